/** Type round-trip cases shared by the text-format and binary-format tests. */

/** User types the cases use. */
export const TYPES_SQL = `
  create type mood as enum ('sad', 'happy');
  create domain posint as int4 check (value > 0);
  create domain bigid as int8;
  create domain ipaddr as inet;
  create type pair as (a int, b text);`;

// Each column: SQL type, SQL literal, the value the engine must see.
export const COLUMNS: [string, string, string, unknown][] = [
  ["c_int2", "int2", "-32768", -32768],
  ["c_int4", "int4", "2147483647", 2147483647],
  ["c_int8", "int8", "9223372036854775807", 9223372036854775807n],
  ["c_int8n", "int8", "-9007199254740993", -9007199254740993n],
  ["c_num", "numeric", "12345678901234567890.123456789012", "12345678901234567890.123456789012"],
  ["c_num2", "numeric(10,2)", "0.10", "0.10"],
  ["c_num_nan", "numeric", "'NaN'", "NaN"],
  ["c_num_inf", "numeric", "'-Infinity'", "-Infinity"],
  ["c_f4", "float4", "1.5", 1.5],
  ["c_f8", "float8", "0.1", 0.1],
  ["c_f8_nan", "float8", "'NaN'", Number.NaN],
  ["c_f8_inf", "float8", "'Infinity'", Number.POSITIVE_INFINITY],
  ["c_bool", "bool", "true", true],
  ["c_bool_f", "bool", "false", false],
  ["c_text", "text", `'héllo, "wörld" \\ {x}'`, `héllo, "wörld" \\ {x}`],
  ["c_varchar", "varchar(10)", "'abc'", "abc"],
  ["c_char", "char(5)", "'ab'", "ab   "],
  ["c_bytea", "bytea", "'\\x00ff10'", new Uint8Array([0, 255, 16])],
  ["c_uuid", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
  ["c_json", "json", `'{"a":  1, "big": 12345678901234567890}'`, `{"a":  1, "big": 12345678901234567890}`],
  ["c_jsonb", "jsonb", `'{"b":[1,2],"a":null}'`, `{"a": null, "b": [1, 2]}`],
  ["c_date", "date", "'2024-02-29'", "2024-02-29"],
  ["c_date_inf", "date", "'infinity'", "infinity"],
  ["c_time", "time", "'12:34:56.123456'", "12:34:56.123456"],
  ["c_timetz", "timetz", "'12:34:56.123456+02'", "12:34:56.123456+02"],
  ["c_ts", "timestamp", "'2024-01-02 03:04:05.123456'", "2024-01-02 03:04:05.123456"],
  ["c_ts_inf", "timestamp", "'-infinity'", "-infinity"],
  ["c_tstz", "timestamptz", "'2024-01-02 03:04:05.123456+02'", "2024-01-02 01:04:05.123456+00"],
  ["c_interval", "interval", "'1 year 2 months 3 days 04:05:06.789'", "1 year 2 mons 3 days 04:05:06.789"],
  ["c_inet", "inet", "'192.168.0.1/24'", "192.168.0.1/24"],
  // a host address prints without a mask (its ::text cast adds /32 or /128: the snapshot must not use it)
  ["c_inet_host6", "inet", "'::1'", "::1"],
  ["c_inet_host4", "inet", "'10.0.0.1'", "10.0.0.1"],
  ["c_inet_domain", "ipaddr", "'10.1.2.3'", "10.1.2.3"],
  ["c_cidr", "cidr", "'10.0.0.0/8'", "10.0.0.0/8"],
  ["c_mac", "macaddr", "'08:00:2b:01:02:03'", "08:00:2b:01:02:03"],
  ["c_int4arr", "int4[]", "'{1,NULL,3}'", [1, null, 3]],
  ["c_int8arr", "int8[]", "'{9223372036854775807,-1}'", [9223372036854775807n, -1n]],
  ["c_textarr", "text[]", `'{{a,"b c"},{NULL,"d\\"e"}}'`, [["a", "b c"], [null, 'd"e']]],
  ["c_numarr", "numeric[]", "'{1.50,NaN}'", ["1.50", "NaN"]],
  ["c_tsarr", "timestamptz[]", `'{"2024-01-02 03:04:05.5+00"}'`, ["2024-01-02 03:04:05.5+00"]],
  ["c_emptyarr", "int4[]", "'{}'", []],
  ["c_textarr2", "text[]", `'{"NULL",NULL,"a\\\\b","",", {}"}'`, ["NULL", null, "a\\b", "", ", {}"]],
  ["c_lbarr", "int4[]", "'[0:1]={7,8}'", [7, 8]],
  ["c_boolarr", "bool[]", "'{t,f,NULL}'", [true, false, null]],
  ["c_bytearr", "bytea[]", `'{"\\\\x0102"}'`, [new Uint8Array([1, 2])]],
  ["c_jsonbarr", "jsonb[]", `array['{"a": 1}'::jsonb]`, ['{"a": 1}']],
  ["c_enum", "mood", "'happy'", "happy"],
  ["c_enumarr", "mood[]", "'{sad,happy}'", ["sad", "happy"]],
  ["c_domain", "posint", "5", 5],
  ["c_domain8", "bigid", "9007199254740993", 9007199254740993n],
  ["c_comp", "pair", "row(1, 'x y')::pair", `(1,"x y")`],
  ["c_null", "int8", "null", null],
];

/** Types without a binary decoder (a table with one is streamed in text format). */
const NO_BINARY = new Set(["interval", "inet", "ipaddr", "cidr", "macaddr", "pair"]);
export const BINARY_COLUMNS = COLUMNS.filter(([, type]) => !NO_BINARY.has(type));

/** Edge cases for the binary decoders: each must give exactly what the text format gives. */
export const BINARY_EDGES: [string, string, string, unknown][] = [
  ["e_num_neg", "numeric", "-0.000123", "-0.000123"],
  ["e_num_zero", "numeric(8,3)", "0", "0.000"],
  ["e_num_int", "numeric", "100000000", "100000000"],
  ["e_num_big", "numeric", "-98765432109876543210.00000000000000000001", "-98765432109876543210.00000000000000000001"],
  ["e_num_frac", "numeric(20,10)", "12.5", "12.5000000000"],
  ["e_num_pinf", "numeric", "'Infinity'", "Infinity"],
  ["e_f4_tenth", "float4", "0.1", 0.1],
  ["e_f4_max", "float4", "3.4028235e38", 3.4028235e38],
  ["e_f4_tiny", "float4", "1e-45", 1e-45],
  ["e_f4_third", "float4", "1.0/3", 0.33333334],
  // float4out's digits, not merely the shortest that reads back: a tie to even, and a decimal exactly halfway not taken
  ["e_f4_tie", "float4", "1234567.25", 1234567.2],
  ["e_f4_half", "float4", "'1.3800641e+10'", 1.3800641e10],
  ["e_f4_negzero", "float4", "'-0'", -0],
  ["e_f4_nan", "float4", "'NaN'", Number.NaN],
  ["e_f8_max", "float8", "1.7976931348623157e308", 1.7976931348623157e308],
  ["e_f8_ninf", "float8", "'-Infinity'", Number.NEGATIVE_INFINITY],
  ["e_date_bc", "date", "'0044-03-15 BC'", "0044-03-15 BC"],
  ["e_date_old", "date", "'1582-10-04'", "1582-10-04"],
  ["e_date_far", "date", "'294276-12-31'", "294276-12-31"],
  ["e_date_ninf", "date", "'-infinity'", "-infinity"],
  ["e_ts_bc", "timestamp", "'0044-03-15 12:00:00.5 BC'", "0044-03-15 12:00:00.5 BC"],
  ["e_ts_pre", "timestamp", "'1969-12-31 23:59:59.999999'", "1969-12-31 23:59:59.999999"],
  ["e_ts_whole", "timestamp", "'2000-01-01 00:00:00'", "2000-01-01 00:00:00"],
  ["e_ts_inf", "timestamp", "'infinity'", "infinity"],
  ["e_tstz_bc", "timestamptz", "'0100-01-01 00:00:00+00 BC'", "0100-01-01 00:00:00+00 BC"],
  ["e_tstz_ninf", "timestamptz", "'-infinity'", "-infinity"],
  ["e_tstz_us", "timestamptz", "'2024-06-30 23:59:59.000001-07'", "2024-07-01 06:59:59.000001+00"],
  ["e_time_max", "time", "'24:00:00'", "24:00:00"],
  ["e_time_zero", "time", "'00:00:00.010'", "00:00:00.01"],
  ["e_timetz_half", "timetz", "'01:02:03+05:30'", "01:02:03+05:30"],
  ["e_timetz_neg", "timetz", "'01:02:03.4-08'", "01:02:03.4-08"],
  ["e_timetz_sec", "timetz", "'01:02:03+00:00:07'", "01:02:03+00:00:07"],
  ["e_text_empty", "text", "''", ""],
  ["e_name", "name", "'a name'", "a name"],
  ["e_oid", "oid", "4294967295", 4294967295],
  ["e_bytea_empty", "bytea", "''", new Uint8Array([])],
  ["e_uuid_max", "uuid", "'ffffffff-ffff-ffff-ffff-ffffffffffff'", "ffffffff-ffff-ffff-ffff-ffffffffffff"],
  ["e_int2arr2d", "int2[]", "'{{1,2},{3,NULL}}'", [[1, 2], [3, null]]],
  ["e_datearr", "date[]", "'{2024-01-01,infinity}'", ["2024-01-01", "infinity"]],
  ["e_uuidarr", "uuid[]", "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'", ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]],
  ["e_f4arr", "float4[]", "'{0.1,NaN}'", [0.1, Number.NaN]],
  ["e_domarr", "bigid[]", "'{1,9007199254740993}'", [1n, 9007199254740993n]],
];
