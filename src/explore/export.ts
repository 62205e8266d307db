/**
 * The explorer's view of a scenario as one self-contained HTML file (`smmuv3 trace --html out.html`): the page with
 * its model inside, for attaching to a bug report. No server, nothing fetched.
 * @module
 */
import { buildModel } from "./inputs.ts";
import { pageHtml } from "./page.ts";

/** The page for scenario `text` (JSON or YAML by `file`'s extension); bad input throws InputError. */
export function scenarioHtml(text: string, file: string): string {
  return pageHtml(buildModel({ scenario: { name: file, text } }));
}
