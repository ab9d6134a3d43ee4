import { openPgliteWorld } from "../support/stores.js";
import { querySuite } from "./suite.js";

querySuite("embedded PGlite", openPgliteWorld);
