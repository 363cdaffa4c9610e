/** The agent's version, reported by `--version` and `status`; kept equal to package.json's by a unit test. */
export const AGENT_VERSION = "0.1.0";
