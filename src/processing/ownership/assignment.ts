// Which live instance each unit of work should run on. Every instance computes it from the same
// inputs (the unit names and the live worker instances in the registry), so they agree without
// talking to each other: units sorted by name are dealt round-robin over instances sorted by id.
// Adjacent names (order-saga/p0of4, p1of4, ...) land on different instances, and the counts
// differ by at most one. The leases, not this function, keep two owners apart: a view that is
// briefly out of date only delays a handover by one round.

export function assignUnits(units: readonly string[], instances: readonly string[]): Map<string, string> {
  const assigned = new Map<string, string>();
  const owners = [...new Set(instances)].sort();
  if (owners.length === 0) return assigned;
  for (const [i, unit] of [...new Set(units)].sort().entries()) assigned.set(unit, owners[i % owners.length]!);
  return assigned;
}
