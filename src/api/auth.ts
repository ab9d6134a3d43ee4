// Bearer JWT and role checks. admin may do everything.
//
// A token is accepted when it is HS256-signed with AUTH_JWT_SECRET, or (when AUTH_JWKS_URL is set)
// RS256/ES256-signed by a key of that identity provider's JWKS, with AUTH_ISSUER / AUTH_AUDIENCE
// checked when configured. Either way it must carry `exp`, and `exp` may lie at most
// AUTH_TOKEN_MAX_TTL_MS ahead: a stolen token without an end, or with one years away, is refused.

import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from "fastify";
import { createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import { ProblemError } from "./problem.js";

export const ROLES = ["customer", "admin", "ops", "auditor", "finance", "analyst"] as const;
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
  return new SignJWT({ roles: [...principal.roles] })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(principal.sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(secretKey(secret));
}

const unauthorized = (detail: string) => new ProblemError(401, "Unauthorized", detail, {}, { "WWW-Authenticate": 'Bearer realm="api"' });

export interface TokenPolicy {
  /** AUTH_JWT_SECRET: HS256 tokens. */
  secret: string;
  /** AUTH_TOKEN_MAX_TTL_MS: how far ahead `exp` may lie. */
  maxTtlMs: number;
  /** AUTH_JWKS_URL (+ AUTH_ISSUER, AUTH_AUDIENCE): RS256/ES256 tokens of an identity provider. */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  now?: () => Date;
}

/** Turns a bearer token into the principal it names, or throws a 401 ProblemError saying why. */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

declare module "fastify" {
  interface FastifyInstance {
    /** The server's verifier (buildServer decorates it); requireRoles prefers it to the key it was given. */
    tokenVerifier?: TokenVerifier;
  }
}

const IDP_ALGORITHMS = ["RS256", "ES256"];

/** AUTH_TOKEN_MAX_TTL_MS unset: a day (npm run token and the dev admin token mint 12 h tokens). */
export const DEFAULT_MAX_TTL_MS = 24 * 3600 * 1000;

/** Verified tokens kept per verifier; past this the oldest is forgotten (and verified again if it comes back). */
const VERIFIED_CACHE_SIZE = 10_000;

export function tokenVerifier(policy: TokenPolicy): TokenVerifier {
  const key = secretKey(policy.secret);
  // jose caches the keys and refetches on an unknown kid (at most every 30 s), so a key rotation
  // at the provider is picked up without a restart.
  const jwks = policy.jwksUrl
    ? createRemoteJWKSet(new URL(policy.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 })
    : undefined;
  const nowSeconds = () => Math.floor((policy.now?.() ?? new Date()).getTime() / 1000);
  const maxTtlSeconds = Math.floor(policy.maxTtlMs / 1000);
  // A token verified once is the same principal until its exp (signature, claims and lifetime
  // cannot change): a client sending one token per request costs one HMAC or RSA check, not one
  // per request (the profile of a flash sale's claims showed verification as the largest cost).
  const verified = new Map<string, { principal: Principal; expSeconds: number }>();
  const verifyAnew = async (token: string): Promise<{ principal: Principal; expSeconds: number }> => {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthorized("the bearer token is not a JWT");
    }
    let payload: JWTPayload;
    try {
      const common = { requiredClaims: ["exp", "sub"], currentDate: new Date(nowSeconds() * 1000), clockTolerance: 5 };
      if (alg === "HS256") payload = (await jwtVerify(token, key, { ...common, algorithms: ["HS256"] })).payload;
      else if (jwks && alg !== undefined && IDP_ALGORITHMS.includes(alg)) {
        payload = (
          await jwtVerify(token, jwks, {
            ...common,
            algorithms: IDP_ALGORITHMS,
            ...(policy.issuer ? { issuer: policy.issuer } : {}),
            ...(policy.audience ? { audience: policy.audience } : {}),
          })
        ).payload;
      } else
        throw unauthorized(
          `tokens signed with ${alg ?? "no algorithm"} are not accepted${jwks ? "" : " (only HS256: no AUTH_JWKS_URL is configured)"}`,
        );
    } catch (error) {
      if (error instanceof ProblemError) throw error;
      // The provider's keys could not be had: the token may well be good, so this is not a 401.
      if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid || !(error instanceof joseErrors.JOSEError)) {
        throw new ProblemError(
          503,
          "Service Unavailable",
          "the identity provider's keys (AUTH_JWKS_URL) could not be fetched",
          {},
          { "Retry-After": "5" },
        );
      }
      throw unauthorized(reasonOf(error));
    }
    if (typeof payload.exp === "number" && payload.exp - nowSeconds() > maxTtlSeconds)
      throw unauthorized(`the token expires more than ${maxTtlSeconds} s from now`);
    if (typeof payload.sub !== "string" || payload.sub === "") throw unauthorized("the token names no subject");
    const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is Role => ROLES.includes(r as Role)) : [];
    return { principal: { sub: payload.sub, roles }, expSeconds: payload.exp as number };
  };
  return {
    async verify(token) {
      const known = verified.get(token);
      if (known && nowSeconds() < known.expSeconds) return known.principal;
      verified.delete(token);
      const fresh = await verifyAnew(token);
      if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value as string);
      verified.set(token, fresh);
      return fresh.principal;
    },
  };
}

/** Why jose refused a token, in words a client can act on (never the key or the token itself). */
function reasonOf(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return "the token has expired";
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return error.reason === "missing" ? `the token has no "${error.claim}" claim` : `the token's "${error.claim}" claim is not accepted`;
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "the token's signature does not verify";
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "no key of the identity provider matches the token";
  return "invalid token";
}

export async function authenticate(keyOrVerifier: Uint8Array | TokenVerifier, header: string | undefined): Promise<Principal> {
  if (!header) throw unauthorized("missing bearer token");
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw unauthorized("the Authorization header must be 'Bearer <token>'");
  const verifier =
    keyOrVerifier instanceof Uint8Array
      ? tokenVerifier({ secret: new TextDecoder().decode(keyOrVerifier), maxTtlMs: DEFAULT_MAX_TTL_MS })
      : keyOrVerifier;
  return verifier.verify(match[1]);
}

export const hasRole = (p: Principal, ...roles: Role[]): boolean => p.roles.includes("admin") || roles.some((r) => p.roles.includes(r));

/** onRequest hook: a valid token carrying one of `roles` (admin always passes). The server's verifier wins over `key`, which only serves a bare Fastify instance (no buildServer). */
export function requireRoles(key: Uint8Array, ...roles: Role[]): onRequestAsyncHookHandler {
  const own = tokenVerifier({ secret: new TextDecoder().decode(key), maxTtlMs: DEFAULT_MAX_TTL_MS });
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const principal = await authenticate(request.server.tokenVerifier ?? own, request.headers.authorization);
    request.principal = principal;
    if (!hasRole(principal, ...roles))
      throw new ProblemError(403, "Forbidden", `this needs one of the roles: ${["admin", ...roles].join(", ")}`);
  };
}

export const principalOf = (request: FastifyRequest): Principal => {
  if (!request.principal) throw new ProblemError(401, "Unauthorized", "missing bearer token");
  return request.principal;
};

/** "customer:c-1", "admin:a-7", ... for event metadata. */
export const actorOf = (p: Principal): string => `${p.roles.includes("admin") ? "admin" : (p.roles[0] ?? "user")}:${p.sub}`;
