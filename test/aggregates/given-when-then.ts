// Specs for deciders read as: given(past events).when(command).then(expected events),
// or .thenThrows("rule"). `then` also folds the new events, so every spec exercises evolve too,
// and returns the resulting state for extra assertions.

import { expect } from "vitest";
import { DomainError, fold, type Decider, type DomainEvent } from "../../src/aggregates/decider.js";

export interface Outcome<State> {
  /** The state after the given events and the emitted ones. */
  state: State;
}

export function specFor<Command, Event extends DomainEvent, State>(decider: Decider<Command, Event, State>) {
  return {
    given(events: readonly Event[]) {
      const before = fold(decider, events);
      return {
        state: before,
        when(command: Command) {
          return {
            then(expected: readonly Event[]): Outcome<State> {
              const emitted = decider.decide(command, before);
              expect(emitted).toEqual(expected);
              for (const e of emitted)
                expect(decider.schemaVersions[e.type as Event["type"]], `schema version of ${e.type}`).toBeGreaterThanOrEqual(1);
              return { state: fold(decider, emitted, before) };
            },
            /** No events: the command is an accepted no-op. */
            thenNothing(): Outcome<State> {
              return this.then([]);
            },
            thenThrows(rule: string, status?: string): DomainError {
              let caught: unknown;
              try {
                decider.decide(command, before);
              } catch (error) {
                caught = error;
              }
              expect(caught, `expected DomainError "${rule}"`).toBeInstanceOf(DomainError);
              const error = caught as DomainError;
              expect(error.rule, error.message).toBe(rule);
              if (status !== undefined) expect(error.status).toBe(status);
              return error;
            },
          };
        },
      };
    },
  };
}
