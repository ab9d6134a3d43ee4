// Bearer tokens with real signatures: HS256 with the shared secret, and RS256/ES256 from an
// identity provider whose JWKS this test serves over HTTP. Tokens without `exp`, or whose `exp` lies
// further ahead than AUTH_TOKEN_MAX_TTL_MS, are refused.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { secretKey, tokenVerifier } from "../../src/api/auth.js";
import { ConfigError, loadConfig } from "../../src/config.js";
import { createStorage, JWT_SECRET, startApp, type Storage, type TestApp } from "./harness.js";

const ISSUER = "https://id.shop.example/";
const AUDIENCE = "commerce-api";

interface Claims {
  sub?: string;
  roles?: string[];
  exp?: number | string;
  iss?: string;
  aud?: string;
}

async function sign(key: CryptoKey | Uint8Array, alg: string, claims: Claims, kid?: string): Promise<string> {
  const jwt = new SignJWT({ ...(claims.roles ? { roles: claims.roles } : {}) })
    .setProtectedHeader({ alg, typ: "JWT", ...(kid ? { kid } : {}) })
    .setIssuedAt();
  if (claims.sub) jwt.setSubject(claims.sub);
  if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
  if (claims.iss) jwt.setIssuer(claims.iss);
  if (claims.aud) jwt.setAudience(claims.aud);
  return jwt.sign(key);
}

const hs256 = (claims: Claims) => sign(secretKey(JWT_SECRET), "HS256", claims);

/** An identity provider: its keys, and its JWKS served at /.well-known/jwks.json. */
async function identityProvider() {
  const rsa = await generateKeyPair("RS256");
  const ec = await generateKeyPair("ES256");
  const stranger = await generateKeyPair("RS256");
  const keys: JWK[] = [
    { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" },
    { ...(await exportJWK(ec.publicKey)), kid: "ec-1", alg: "ES256", use: "sig" },
  ];
  let fetches = 0;
  const server: Server = createServer((req, res) => {
    if (req.url !== "/.well-known/jwks.json") {
      res.writeHead(404).end();
      return;
    }
    fetches++;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    rsa,
    ec,
    stranger,
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    fetches: () => fetches,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe("bearer tokens", () => {
  let storage: Storage;
  let app: TestApp;
  let idp: Awaited<ReturnType<typeof identityProvider>>;
  const cart = (token: string) => app.request("GET", "/api/cart", { token });

  beforeAll(async () => {
    idp = await identityProvider();
    storage = await createStorage("pglite");
    app = await startApp(storage, {
      AUTH_JWKS_URL: idp.url,
      AUTH_ISSUER: ISSUER,
      AUTH_AUDIENCE: AUDIENCE,
      AUTH_TOKEN_MAX_TTL_MS: String(2 * 3600 * 1000),
    });
  });
  afterAll(async () => {
    await app?.close();
    await storage?.dispose();
    await idp?.close();
  });

  it("accepts an HS256 token with an exp inside the allowed lifetime", async () => {
    const res = await cart(await hs256({ sub: "c-1", roles: ["customer"], exp: "1h" }));
    expect(res.status).toBe(200);
    expect(res.body.customerId).toBe("c-1");
  });

  it("refuses an HS256 token without exp, one expiring beyond AUTH_TOKEN_MAX_TTL_MS, and an expired one", async () => {
    const noExp = await cart(await hs256({ sub: "c-1", roles: ["customer"] }));
    expect(noExp.status).toBe(401);
    expect(noExp.headers.get("content-type")).toContain("application/problem+json");
    expect(noExp.body.detail).toContain('"exp"');
    const tooLong = await cart(await hs256({ sub: "c-1", roles: ["customer"], exp: "3h" }));
    expect(tooLong.status).toBe(401);
    expect(tooLong.body.detail).toContain("7200 s");
    const expired = await cart(await hs256({ sub: "c-1", roles: ["customer"], exp: Math.floor(Date.now() / 1000) - 60 }));
    expect(expired.status).toBe(401);
    expect(expired.body.detail).toContain("expired");
    const noSub = await cart(await hs256({ roles: ["customer"], exp: "1h" }));
    expect(noSub.status).toBe(401);
  });

  it("keeps a verified token only until its exp: the same token is refused once it has expired, a forged one never passes", async () => {
    let now = Date.now();
    const verifier = tokenVerifier({ secret: JWT_SECRET, maxTtlMs: 7_200_000, now: () => new Date(now) });
    const exp = Math.floor(now / 1000) + 60;
    const token = await hs256({ sub: "c-1", roles: ["customer"], exp });
    expect(await verifier.verify(token)).toEqual({ sub: "c-1", roles: ["customer"] });
    expect(await verifier.verify(token)).toEqual({ sub: "c-1", roles: ["customer"] });
    const [header, , signature] = token.split(".");
    const forged = `${header}.${Buffer.from(JSON.stringify({ sub: "c-1", roles: ["admin"], exp })).toString("base64url")}.${signature}`;
    await expect(verifier.verify(forged)).rejects.toMatchObject({ status: 401 });
    now += 120_000;
    await expect(verifier.verify(token)).rejects.toMatchObject({ status: 401, message: "the token has expired" });
  });

  it("accepts RS256 and ES256 tokens signed by the identity provider's keys, with their roles", async () => {
    const rs = await sign(
      idp.rsa.privateKey,
      "RS256",
      { sub: "idp-user-1", roles: ["customer"], exp: "30m", iss: ISSUER, aud: AUDIENCE },
      "rsa-1",
    );
    const byRsa = await cart(rs);
    expect(byRsa.status).toBe(200);
    expect(byRsa.body.customerId).toBe("idp-user-1");
    const es = await sign(
      idp.ec.privateKey,
      "ES256",
      { sub: "idp-user-2", roles: ["customer"], exp: "30m", iss: ISSUER, aud: AUDIENCE },
      "ec-1",
    );
    expect((await cart(es)).status).toBe(200);
    // The role comes from the provider's token: ops may not use a cart.
    const opsToken = await sign(
      idp.ec.privateKey,
      "ES256",
      { sub: "idp-ops", roles: ["ops"], exp: "30m", iss: ISSUER, aud: AUDIENCE },
      "ec-1",
    );
    expect((await cart(opsToken)).status).toBe(403);
    expect(idp.fetches()).toBeGreaterThanOrEqual(1);
  });

  it("refuses provider tokens with the wrong issuer or audience, without exp, too long-lived, or signed by a key not in the JWKS", async () => {
    const base = { sub: "idp-user-1", roles: ["customer"], exp: "30m", iss: ISSUER, aud: AUDIENCE };
    const cases: [string, string][] = [
      ["wrong issuer", await sign(idp.rsa.privateKey, "RS256", { ...base, iss: "https://evil.example/" }, "rsa-1")],
      ["wrong audience", await sign(idp.rsa.privateKey, "RS256", { ...base, aud: "another-api" }, "rsa-1")],
      ["no exp", await sign(idp.rsa.privateKey, "RS256", { sub: base.sub, roles: base.roles, iss: ISSUER, aud: AUDIENCE }, "rsa-1")],
      ["exp beyond the maximum", await sign(idp.rsa.privateKey, "RS256", { ...base, exp: "5h" }, "rsa-1")],
      ["a stranger's key under a known kid", await sign(idp.stranger.privateKey, "RS256", base, "rsa-1")],
      ["a stranger's key under an unknown kid", await sign(idp.stranger.privateKey, "RS256", base, "rsa-9")],
    ];
    for (const [name, token] of cases) {
      const res = await cart(token);
      expect(res.status, name).toBe(401);
      expect(res.headers.get("content-type"), name).toContain("application/problem+json");
    }
  });

  it("refuses RS256 tokens when no AUTH_JWKS_URL is configured, and answers 503 when the provider's keys cannot be fetched", async () => {
    const rs = await sign(idp.rsa.privateKey, "RS256", { sub: "u", roles: ["customer"], exp: "30m" }, "rsa-1");
    const hsOnly = tokenVerifier({ secret: JWT_SECRET, maxTtlMs: 3600_000 });
    await expect(hsOnly.verify(rs)).rejects.toMatchObject({ status: 401 });
    const unreachable = tokenVerifier({ secret: JWT_SECRET, maxTtlMs: 3600_000, jwksUrl: "http://127.0.0.1:1/jwks.json" });
    await expect(unreachable.verify(rs)).rejects.toMatchObject({ status: 503 });
    // An unsigned token ("alg": "none") is never accepted.
    const none = `${Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url")}.${Buffer.from(JSON.stringify({ sub: "u", roles: ["admin"], exp: Math.floor(Date.now() / 1000) + 60 })).toString("base64url")}.`;
    await expect(hsOnly.verify(none)).rejects.toMatchObject({ status: 401 });
  });

  it("reads the token settings from the environment and refuses AUTH_ISSUER without AUTH_JWKS_URL", () => {
    expect(loadConfig({}).authTokenMaxTtlMs).toBe(86_400_000);
    expect(loadConfig({ AUTH_JWKS_URL: "https://id.example/jwks", AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE })).toMatchObject({
      authJwksUrl: "https://id.example/jwks",
      authIssuer: ISSUER,
      authAudience: AUDIENCE,
    });
    expect(() => loadConfig({ AUTH_ISSUER: ISSUER })).toThrow(ConfigError);
    expect(() => loadConfig({ AUTH_JWKS_URL: "ftp://id.example/jwks" })).toThrow(/AUTH_JWKS_URL/);
    expect(() => loadConfig({ AUTH_TOKEN_MAX_TTL_MS: "forever" })).toThrow(/AUTH_TOKEN_MAX_TTL_MS/);
  });
});
