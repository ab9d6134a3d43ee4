// Bearer JWT (HS256, AUTH_JWT_SECRET) and role checks. admin may do everything.

import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from "fastify";
import { jwtVerify, SignJWT } from "jose";
import { ProblemError } from "./problem.js";

export const ROLES = ["customer", "admin", "ops", "auditor", "finance"] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  sub: string;
  roles: Role[];
}

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export const secretKey = (secret: string): Uint8Array => new TextEncoder().encode(secret);

export async function signToken(secret: string, principal: { sub: string; roles: readonly Role[] }, expiresIn = "12h"): Promise<string> {
  return new SignJWT({ roles: [...principal.roles] }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setSubject(principal.sub).setIssuedAt().setExpirationTime(expiresIn).sign(secretKey(secret));
}

const unauthorized = (detail: string) => new ProblemError(401, "Unauthorized", detail, {}, { "WWW-Authenticate": 'Bearer realm="api"' });

export async function authenticate(key: Uint8Array, header: string | undefined): Promise<Principal> {
  if (!header) throw unauthorized("missing bearer token");
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw unauthorized("the Authorization header must be 'Bearer <token>'");
  try {
    const { payload } = await jwtVerify(match[1], key, { algorithms: ["HS256"] });
    const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is Role => ROLES.includes(r as Role)) : [];
    if (typeof payload.sub !== "string" || payload.sub === "") throw new Error("no subject");
    return { sub: payload.sub, roles };
  } catch {
    throw unauthorized("invalid or expired token");
  }
}

export const hasRole = (p: Principal, ...roles: Role[]): boolean => p.roles.includes("admin") || roles.some((r) => p.roles.includes(r));

/** onRequest hook: a valid token carrying one of `roles` (admin always passes). */
export function requireRoles(key: Uint8Array, ...roles: Role[]): onRequestAsyncHookHandler {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const principal = await authenticate(key, request.headers.authorization);
    request.principal = principal;
    if (!hasRole(principal, ...roles)) throw new ProblemError(403, "Forbidden", `this needs one of the roles: ${["admin", ...roles].join(", ")}`);
  };
}

export const principalOf = (request: FastifyRequest): Principal => {
  if (!request.principal) throw new ProblemError(401, "Unauthorized", "missing bearer token");
  return request.principal;
};

/** "customer:c-1", "admin:a-7", ... for event metadata. */
export const actorOf = (p: Principal): string => `${p.roles.includes("admin") ? "admin" : (p.roles[0] ?? "user")}:${p.sub}`;
