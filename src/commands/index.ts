import type { Command } from "./command.ts";
import { serveCommand } from "./serve.ts";
import { checkCommand } from "./check.ts";
import { dlqCommand } from "./dlq.ts";
import { healthcheckCommand } from "./healthcheck.ts";
import { verifyCommand } from "./verify.ts";
import { generateCommand } from "./generate.ts";
import { slotCommand } from "./slot.ts";
import { demoCommand } from "./demo.ts";

/** Every subcommand, in the order `--help` lists them. */
export const commands: Command[] = [serveCommand, checkCommand, verifyCommand, generateCommand, demoCommand, slotCommand, dlqCommand, healthcheckCommand];
