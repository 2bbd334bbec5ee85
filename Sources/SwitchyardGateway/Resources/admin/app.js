// Switchyard admin page: plain ES modules, no dependencies, no build step, served by the gateway
// itself under a strict CSP (script-src 'self'). Every piece of data is rendered as text: dom.js
// builds the nodes, nothing is parsed as HTML.
//
// The modules, each importing only those above it:
//   api.js     the admin token, every API path the page calls, the fetch helper
//   format.js  how numbers, times and states read
//   dom.js     element builders, buttons and forms that run actions, notices
//   charts.js  the SVG line charts and the split bar
//   shell.js   login, routes (#/NAME/...), refresh timers, the seed-file banner
//   one module per view (below), each exporting its `title` and `render(root, params)`
//   app.js     this entry: the views by route name

import * as audit from "./audit.js";
import * as backends from "./backends.js";
import * as config from "./config.js";
import * as experiments from "./experiments.js";
import * as models from "./models.js";
import * as overview from "./overview.js";
import * as providers from "./providers.js";
import * as rollouts from "./rollouts.js";
import { start } from "./shell.js";
import * as users from "./users.js";

// Module scripts run once the document is parsed: the elements of index.html are there.
start({ overview, backends, models, rollouts, experiments, users, providers, audit, config });
