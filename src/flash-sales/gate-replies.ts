// What a gate's atomic step answers, decoded the same way for every adapter: the Redis Lua scripts
// and the PostgreSQL functions both reply with an outcome name and up to three values whose
// meaning depends on the outcome (see scripts.ts and the fs_* functions).

import type { ClaimOutcome, GateClaimStatus, ReleaseOutcome } from "./gate.js";

type Value = string | number | null | undefined;

const num = (v: Value): number => Number(v ?? 0);

/** fsClaim / fs_claim: granted (expiresAtMs, remaining, quantity[, epoch]), soldOut (remaining), overLimit (held, limit), notStarted (startsAtMs), ended (endsAtMs). */
export function claimOutcomeOf(claimId: string, outcome: Value, a: Value, b: Value, c: Value, epoch?: Value): ClaimOutcome {
  switch (outcome) {
    case "granted":
      return {
        outcome,
        claimId,
        quantity: num(c),
        expiresAtMs: num(a),
        remaining: num(b),
        ...(epoch === undefined || epoch === null ? {} : { epoch: num(epoch) }),
      };
    case "soldOut":
      return { outcome, remaining: num(a) };
    case "overLimit":
      return { outcome, held: num(a), limit: num(b) };
    case "notStarted":
      return { outcome, startsAtMs: num(a) };
    case "ended":
      return { outcome, endsAtMs: num(a) };
    default:
      return { outcome: "unknownSale" };
  }
}

/** fsRelease / fs_release: released (quantity, remaining), notReleasable (the claim's status), notFound, closed. */
export function releaseOutcomeOf(outcome: Value, a: Value, b: Value, status: Value): ReleaseOutcome {
  switch (outcome) {
    case "released":
      return { outcome, quantity: num(a), remaining: num(b) };
    case "notReleasable":
      return { outcome, status: status as GateClaimStatus };
    case "notFound":
    case "closed":
      return { outcome };
    default:
      return { outcome: "unknownSale" };
  }
}
