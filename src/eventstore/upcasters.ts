// Upcasters turn a stored event of an old schema version into the current one, on every read
// path, so deciders and projectors only ever see current shapes. They chain: v1 → v2 → v3.

import type { JsonValue, RecordedEvent } from "./port.js";

export interface Upcaster {
  type: string;
  /** The version this upcaster reads; it produces `fromSchemaVersion + 1`. */
  fromSchemaVersion: number;
  /** May rename the event by returning another `type`. Must be pure. */
  upcast(event: { type: string; data: JsonValue; metadata: RecordedEvent["metadata"] }): { type?: string; data: JsonValue };
}

export class UpcasterRegistry {
  private readonly byKey = new Map<string, Upcaster>();

  constructor(upcasters: readonly Upcaster[] = []) {
    for (const upcaster of upcasters) this.register(upcaster);
  }

  register(upcaster: Upcaster): this {
    const key = `${upcaster.type}@${upcaster.fromSchemaVersion}`;
    if (this.byKey.has(key)) throw new Error(`an upcaster for ${key} is already registered`);
    this.byKey.set(key, upcaster);
    return this;
  }

  /** No upcaster registered: every event is read as stored. */
  get isEmpty(): boolean {
    return this.byKey.size === 0;
  }

  apply(event: RecordedEvent): RecordedEvent {
    let current = event;
    for (let upcaster = this.find(current); upcaster; upcaster = this.find(current)) {
      const next = upcaster.upcast({ type: current.type, data: current.data, metadata: current.metadata });
      current = { ...current, type: next.type ?? current.type, data: next.data, schemaVersion: current.schemaVersion + 1 };
    }
    return current;
  }

  private find(event: RecordedEvent): Upcaster | undefined {
    return this.byKey.size === 0 ? undefined : this.byKey.get(`${event.type}@${event.schemaVersion}`);
  }
}
