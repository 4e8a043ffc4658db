import type { Dataset } from "../dataset.ts";
import { ecommerceDataset } from "./ecommerce.ts";
import { engagementDataset } from "./engagement.ts";
import { ordersDataset } from "./orders.ts";
import { relationalDataset } from "./relational.ts";

/** The datasets `generate --dataset NAME` knows, one per scenario (SCENARIOS.md). */
export const DATASETS: Record<string, () => Dataset> = {
  ecommerce: ecommerceDataset,
  engagement: engagementDataset,
  orders: ordersDataset,
  relational: relationalDataset,
};
