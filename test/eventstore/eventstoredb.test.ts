// The contract against a real EventStoreDB / KurrentDB. No server can be had on the project's
// machines, so this suite runs only where EVENTSTORE_URL points at one (infra/docker-compose.yml
// starts one): EVENTSTORE_URL="esdb://127.0.0.1:2113?tls=false".

import { describe } from "vitest";
import { EventStoreDbEventStore } from "../../src/eventstore/eventstoredb/eventstoredb-event-store.js";
import { missing, server } from "../support/env.js";
import { eventStoreContract } from "./contract.js";

const eventStoreUrl = server("EVENTSTORE_URL");

describe.skipIf(missing(eventStoreUrl))("EventStoreDB event store", () => {
  eventStoreContract("EventStoreDB", {
    open: async (options) => new EventStoreDbEventStore(eventStoreUrl.value!, { upcasters: options?.upcasters }),
  });
});
