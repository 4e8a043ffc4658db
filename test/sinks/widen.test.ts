/** Which retyped source columns the postgres and mysql sinks follow: widening in one family only, never narrowing. */
import { describe, expect, test } from "bun:test";
import { widensTo } from "../../src/sinks/postgres/widen.ts";
import { mysqlWidensTo } from "../../src/sinks/mysql/widen.ts";

describe("column widening rules", () => {
  test("postgres", () => {
    const yes: [string, string][] = [
      ["smallint", "integer"], ["integer", "bigint"], ["smallint", "bigint"], ["bigint", "numeric"], ["integer", "numeric(12,2)"],
      ["real", "double precision"], ["character varying(3)", "character varying(20)"], ["character varying(3)", "text"],
      ["character varying(3)", "character varying"], ["numeric(5,2)", "numeric(20,4)"], ["numeric(5,2)", "numeric"],
    ];
    const no: [string, string][] = [
      ["bigint", "integer"], ["integer", "integer"], ["bigint", "numeric(12,2)"], ["double precision", "real"], ["text", "character varying(5)"],
      ["character varying(20)", "character varying(3)"], ["numeric(20,4)", "numeric(5,2)"], ["numeric(5,2)", "numeric(6,1)"], ["numeric", "numeric(10,2)"],
      ["text", "integer"], ["integer", "text"], ["timestamp without time zone", "timestamp with time zone"], ["numeric", "bigint"],
    ];
    for (const [a, b] of yes) expect([a, b, widensTo(a, b)]).toEqual([a, b, true]);
    for (const [a, b] of no) expect([a, b, widensTo(a, b)]).toEqual([a, b, false]);
  });

  test("mysql", () => {
    const yes: [string, string][] = [
      ["smallint(6)", "INT"], ["int(11)", "BIGINT"], ["smallint(6)", "BIGINT"], ["int(11)", "DECIMAL(12,0)"], ["float", "DOUBLE"],
      ["varchar(3)", "VARCHAR(20)"], ["varchar(3)", "LONGTEXT"], ["decimal(5,2)", "DECIMAL(20,4)"], ["decimal(5,2)", "LONGTEXT"], ["text", "LONGTEXT"],
    ];
    const no: [string, string][] = [
      ["bigint(20)", "INT"], ["int(11)", "INT"], ["bigint(20)", "DECIMAL(12,2)"], ["double", "FLOAT"], ["longtext", "VARCHAR(255)"],
      ["varchar(20)", "VARCHAR(3)"], ["decimal(20,4)", "DECIMAL(5,2)"], ["decimal(5,2)", "DECIMAL(5,2)"], ["int(10) unsigned", "BIGINT"],
      ["datetime(6)", "DATETIME(6)"], ["char(5)", "VARCHAR(10)"], ["longtext", "JSON"],
    ];
    for (const [a, b] of yes) expect([a, b, mysqlWidensTo(a, b)]).toEqual([a, b, true]);
    for (const [a, b] of no) expect([a, b, mysqlWidensTo(a, b)]).toEqual([a, b, false]);
  });
});
