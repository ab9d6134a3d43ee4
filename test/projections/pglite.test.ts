import { openPgliteWorld } from "../support/stores.js";
import { projectionSuite } from "./suite.js";

projectionSuite("embedded PGlite", openPgliteWorld);
