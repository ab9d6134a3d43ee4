// The shape every aggregate follows: pure functions over its own commands, events and state.
// No I/O, clock or randomness: time, ids and prices arrive inside the command.

/** A domain event before it is stored: its type, schema version and payload. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  type: Type;
  data: Data;
}

export interface Decider<Command, Event extends DomainEvent, State> {
  /** Stream category, e.g. "order" for stream "order-<id>". */
  readonly category: string;
  /** Current schema version of each event type this aggregate emits. */
  readonly schemaVersions: Readonly<Record<Event["type"], number>>;
  initialState: State;
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  /**
   * Optional: the fold of many events at once, equal to reducing with evolve. An aggregate whose
   * state grows with its stream implements it to copy its collections once per fold, not per event.
   */
  evolveAll?(state: State, events: readonly Event[]): State;
}

/** A command broke a business rule. `rule` names it; `status` is the aggregate's status when known. */
export class DomainError extends Error {
  override readonly name = "DomainError";
  constructor(
    readonly rule: string,
    message: string,
    readonly status?: string,
  ) {
    super(message);
  }
}

/**
 * A stored event as its aggregate's event type. The store keeps type and data untyped (and has
 * already upcast data to the current schema), so this is the one place that asserts the type.
 */
export const asEvent = <Event extends DomainEvent>(stored: { readonly type: string; readonly data: unknown }): Event =>
  ({ type: stored.type, data: stored.data }) as Event;

export const fold = <Event extends DomainEvent, State>(
  decider: Pick<Decider<unknown, Event, State>, "evolve" | "evolveAll" | "initialState">,
  events: readonly Event[],
  from: State = decider.initialState,
): State => (decider.evolveAll ? decider.evolveAll(from, events) : events.reduce(decider.evolve, from));
