// TypeBox schemas shared by several route files.

import { Type } from "@sinclair/typebox";

export const Sku = Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9][A-Za-z0-9._-]*$" });
export const Id = Type.String({ minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9][A-Za-z0-9._:-]*$" });
export const Quantity = Type.Integer({ minimum: 1, maximum: 10_000 });
export const Money = Type.Integer({ minimum: 1, maximum: 100_000_000_000 });
export const Currency = Type.String({ pattern: "^[A-Z]{3}$" });
export const NonEmpty = (max = 200) => Type.String({ minLength: 1, maxLength: max, pattern: "\\S" });

export const Problem = Type.Object(
  { type: Type.String(), title: Type.String(), status: Type.Integer(), detail: Type.String() },
  { additionalProperties: true, $id: "Problem", description: "RFC 9457 problem details (application/problem+json)" },
);

export const ShippingAddress = Type.Object(
  {
    name: NonEmpty(),
    line1: NonEmpty(),
    line2: Type.Optional(Type.String({ maxLength: 200 })),
    city: NonEmpty(100),
    state: NonEmpty(100),
    pincode: Type.String({ pattern: "^[0-9]{6}$" }),
    phone: Type.String({ pattern: "^\\+?[0-9][0-9 -]{6,18}$" }),
  },
  { additionalProperties: false },
);

export const PaymentMethod = Type.Union([
  Type.Literal("UPI"),
  Type.Literal("CARD"),
  Type.Literal("NETBANKING"),
  Type.Literal("WALLET"),
  Type.Literal("COD"),
]);

export const IsoTime = Type.String({ format: "date-time" });

/** ?waitFor=<the X-Commit-Position a write answered with>: a read waits (at most 5 s) for the read models to reach it. */
export const WaitForQuery = Type.Object({ waitFor: Type.Optional(Type.String({ maxLength: 100 })) }, { additionalProperties: false });
