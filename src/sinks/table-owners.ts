/**
 * Target table → the output table written to it first. Two source tables can come out as one
 * target name (sales.orders and public.sales_orders are both sales_orders in MySQL and BigQuery):
 * their rows were mixed there, a row of one overwriting or sitting beside the other's. The first
 * output table written owns the name (per process); the sink sends the other's records to the DLQ.
 */
export class TableOwners {
  private readonly owners = new Map<string, string>();

  /** The output table that owns `target` when it is not `output` (then `output` must not write there), else null. */
  claim(target: string, output: string): string | null {
    const owner = this.owners.get(target);
    if (owner === undefined) this.owners.set(target, output);
    return owner === undefined || owner === output ? null : owner;
  }
}
