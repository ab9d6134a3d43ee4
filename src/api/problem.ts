// RFC 9457 problem details: every 4xx/5xx answer of the API goes through `errorHandler`.

import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import type { Duplex } from "node:stream";
import { DomainError } from "../aggregates/decider.js";
import { EventIdConflictError, InvalidAppendError, WrongExpectedVersionError } from "../eventstore/errors.js";
import { isConnectionLost } from "../infrastructure/sql/sql-client.js";

export const PROBLEM_TYPE_BASE = "https://errors.commerce.example/";

export class ProblemError extends Error {
  override readonly name = "ProblemError";
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

export const notFound = (what: string): ProblemError => new ProblemError(404, "Not Found", `${what} not found`);
export const notImplemented = (what: string): ProblemError => new ProblemError(501, "Not Implemented", `${what} is not implemented yet`);

const slug = (title: string): string => title.toLowerCase().replace(/[^a-z0-9]+/g, "-");

export function problemBody(status: number, title: string, detail: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: `${PROBLEM_TYPE_BASE}${slug(title)}`, title, status, detail, ...extra };
}

export function sendProblem(
  reply: FastifyReply,
  status: number,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {},
): FastifyReply {
  return reply
    .code(status)
    .type("application/problem+json")
    .send(problemBody(status, title, detail, extra));
}

/** A DomainError rule starting with "invalid_" is bad input (422); any other rule is a conflict with the current state (409). */
export function domainProblem(error: DomainError): ProblemError {
  if (error.rule.startsWith("invalid_") || error.rule === "unknown_sku" || error.rule === "return_quantity_exceeds_purchase") {
    return new ProblemError(422, "Unprocessable Content", error.message, { rule: error.rule });
  }
  if (error.rule.endsWith("_not_found")) return new ProblemError(404, "Not Found", error.message, { rule: error.rule });
  return new ProblemError(409, "Conflict", error.message, {
    rule: error.rule,
    ...(error.status === undefined ? {} : { currentStatus: error.status }),
  });
}

export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof ProblemError) {
    for (const [k, v] of Object.entries(error.headers)) reply.header(k, v);
    return sendProblem(reply, error.status, error.title, error.message, error.extra);
  }
  if (error instanceof DomainError) {
    const p = domainProblem(error);
    return sendProblem(reply, p.status, p.title, p.message, p.extra);
  }
  if (error instanceof WrongExpectedVersionError) {
    return sendProblem(reply, 412, "Precondition Failed", `the resource is at version ${error.actual}, not ${String(error.expected)}`, {
      currentVersion: error.actual,
    });
  }
  if (error instanceof InvalidAppendError) {
    return sendProblem(reply, 422, "Unprocessable Content", error.message, { field: error.field });
  }
  if (error instanceof EventIdConflictError) {
    return sendProblem(reply, 409, "Conflict", "this request conflicts with an earlier one");
  }
  // The database could not be reached or dropped the connection (restarting, a network cut):
  // nothing about the request is wrong, and the same request may succeed shortly.
  if (isConnectionLost(error)) {
    request.log.warn({ err: error }, "database unavailable");
    reply.header("Retry-After", "5");
    return sendProblem(reply, 503, "Service Unavailable", "the database is unavailable; try again shortly");
  }
  const fe = error as FastifyError;
  if (fe.validation) {
    const first = fe.validation[0];
    const where = fe.validationContext ?? "body";
    const path = first?.instancePath ? first.instancePath.replace(/^\//, "").replace(/\//g, ".") : "";
    const missing = first?.keyword === "required" ? String((first.params as { missingProperty?: string }).missingProperty ?? "") : "";
    const extra =
      first?.keyword === "additionalProperties" ? String((first.params as { additionalProperty?: string }).additionalProperty ?? "") : "";
    const field = [path, missing || extra].filter(Boolean).join(".") || where;
    const detail = `${where}${field === where ? "" : `.${field}`} ${first?.message ?? "is invalid"}${extra ? ` (${extra})` : ""}`;
    return sendProblem(reply, 400, "Bad Request", detail, {
      field,
      in: where,
      errors: fe.validation.map((v) => ({ path: v.instancePath, message: v.message, keyword: v.keyword, params: v.params })),
    });
  }
  const status = typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 600 ? fe.statusCode : 500;
  if (status >= 500) {
    request.log.error({ err: error }, "request failed");
    return sendProblem(
      reply,
      status,
      status === 503 ? "Service Unavailable" : "Internal Server Error",
      status === 500 ? "an unexpected error occurred" : error.message,
    );
  }
  // Fastify's own client errors: bad JSON, body too large, unsupported media type...
  const titles: Record<number, string> = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
  };
  return sendProblem(reply, status, titles[status] ?? "Client Error", error.message, fe.code ? { code: fe.code } : {});
}

/**
 * Errors of the HTTP parser itself (a malformed request line, headers too large, a timeout): no
 * request object exists yet, so the answer is written to the socket, as problem+json like every other.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const [status, title, detail] =
    error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "Request Timeout", "the request did not arrive in time"]
      : error.code === "HPE_HEADER_OVERFLOW"
        ? [431, "Request Header Fields Too Large", "the request's headers are too large"]
        : [400, "Bad Request", "the request is not valid HTTP"];
  const body = JSON.stringify(problemBody(status, title, detail));
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy(error);
}
