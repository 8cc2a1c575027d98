/**
 * Test-only preload for a `cohort start` process (never loaded by production code): SIGUSR2 makes
 * the next turn of the event loop throw, as a bug in a request handler would.
 */
process.on("SIGUSR2", () => {
  setImmediate(() => {
    throw new Error("injected by the test's crash-on-signal preload");
  });
});
