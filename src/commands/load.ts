// Read an aggregate's current state straight from its stream (strongly consistent reads for
// command preconditions and for resources the API serves from the log itself).

import { asEvent, fold, type Decider, type DomainEvent } from "../aggregates/decider.js";
import type { EventStore, RecordedEvent } from "../eventstore/port.js";

export interface Loaded<State> {
  state: State;
  /** Revision of the stream's last event; -1 when empty. */
  revision: number;
  events: RecordedEvent[];
}

export async function loadAggregate<Command, Event extends DomainEvent, State>(
  store: EventStore,
  decider: Decider<Command, Event, State>,
  streamId: string,
): Promise<Loaded<State>> {
  const events = await store.readStream(streamId);
  const state = fold(decider, events.map(asEvent<Event>));
  return { state, revision: events.at(-1)?.revision ?? -1, events };
}
