import type { AgentErrorCode } from "./rpc/protocol";

export type { AgentErrorCode } from "./rpc/protocol";

/**
 * An agent failure with a stable code (sent to the proxy as `error.data.code`) and a
 * message that chains context from the outside in (`stage: grub backend: ...`).
 */
export class AgentError extends Error {
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "AgentError";
  }
}

/**
 * Adds context in front of an error's message, keeping its code (or giving `code` to a
 * foreign error), so messages read `activate: grub backend: write grubenv: EROFS ...`.
 */
export function wrap(err: unknown, context: string, code: AgentErrorCode = "internal"): AgentError {
  if (err instanceof AgentError) return new AgentError(err.code, `${context}: ${err.message}`, { cause: err });
  return new AgentError(code, `${context}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
