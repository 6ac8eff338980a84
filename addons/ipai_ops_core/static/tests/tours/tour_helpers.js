/** @odoo-module **/
// What the tours share: the form of an environment being shown, and two
// messages to the test (tests/common.py, OpsHttpCase): how long a page took
// to be usable (measured, reported, not asserted) and a screenshot to take
// for the README (only when scripts/screenshots.sh runs the tours).

let clickedAt;

/** A page is usable: the time since its load began, or since the click that opened it. */
export function interactive(page) {
    const since = clickedAt === undefined ? 0 : clickedAt;
    clickedAt = undefined;
    console.log(`ipai-ops-interactive:${page}:${Math.round(performance.now() - since)}`);
}

/** A step's run: a click whose page is timed by the next interactive(). */
export async function clickTimed(helpers) {
    clickedAt = performance.now();
    await helpers.click();
}

/** A step that takes a screenshot named ``name`` (docs/screenshots/NAME.png) of the page as it is. */
export function screenshot(name) {
    return {
        content: `screenshot: ${name}`,
        trigger: "body",
        run: async () => {
            console.log(`ipai-ops-screenshot:${name}`);
            if (document.cookie.includes("ipai_ops_screenshots=1")) {
                await new Promise((resolve) => setTimeout(resolve, 700)); // the browser captures it meanwhile
            }
        },
    };
}

export function formLoaded(branch, page = `environment form (${branch})`) {
    return {
        content: `the form of ${branch} is shown`,
        trigger: `.o_form_view .o_field_widget[name='branch']:contains(${branch})`,
        run: () => interactive(page),
    };
}
