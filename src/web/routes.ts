// The back-office page at /admin: three static files (HTML, one script, one stylesheet) read once
// at start and served by the API's own server, so it needs no build step, no CDN and works
// offline. The page calls the same /api routes with the bearer token the user signs in with;
// serving the files needs no token (they hold no data).

import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { readFileSync } from "node:fs";

const asset = (name: string): string => readFileSync(new URL(`./${name}`, import.meta.url), "utf8");

/** Only same-origin scripts, styles and calls; no framing; nothing inline. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const text = (contentType: string, description: string) => ({ description, content: { [contentType]: { schema: Type.String() } } });

export async function backOfficeRoutes(app: FastifyInstance): Promise<void> {
  const files = {
    html: asset("index.html"),
    js: asset("admin.js"),
    css: asset("admin.css"),
  };
  const page = {
    tags: ["back-office"],
    summary: "The back-office page (order timeline, reconciliation, needs attention, read models, orders); sign in with a bearer token",
    security: [],
    response: { 200: text("text/html", "the page") },
  };
  for (const url of ["/admin", "/admin/"]) {
    app.get(url, { schema: page }, async (_request, reply) =>
      reply
        .type("text/html; charset=utf-8")
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("x-content-type-options", "nosniff")
        .header("cache-control", "no-cache")
        .send(files.html),
    );
  }
  app.get(
    "/admin/assets/admin.js",
    {
      schema: {
        tags: ["back-office"],
        summary: "The back-office page's script",
        security: [],
        response: { 200: text("text/javascript", "the script") },
      },
    },
    async (_request, reply) =>
      reply
        .type("text/javascript; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .header("cache-control", "no-cache")
        .send(files.js),
  );
  app.get(
    "/admin/assets/admin.css",
    {
      schema: {
        tags: ["back-office"],
        summary: "The back-office page's stylesheet",
        security: [],
        response: { 200: text("text/css", "the stylesheet") },
      },
    },
    async (_request, reply) =>
      reply.type("text/css; charset=utf-8").header("x-content-type-options", "nosniff").header("cache-control", "no-cache").send(files.css),
  );
}
