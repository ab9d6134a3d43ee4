import { openPgliteWorld } from "../support/stores.js";
import { auditReadsSuite } from "./audit-reads.js";

auditReadsSuite("embedded PGlite", openPgliteWorld);
