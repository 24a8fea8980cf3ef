// OrderService: the orders the customers placed, as the orchestrator sees them.
import type { FieldMask__Output } from './generated/google/protobuf/FieldMask';
import type { Order, Order__Output } from './generated/food/v1/Order';
import type { OrderServiceHandlers } from './generated/food/v1/OrderService';
import { failedPrecondition, invalidArgument } from './errors';
import { resolveName } from './names';
import type { OrderBook, OrderPatch, OrderRecord } from './order-book';
import { decodePageToken, encodePageToken, resolvePageSize, type PageSizes } from './paging';
import type { Implementation } from './rpc';
import { isFinalOrderStatus, parseOrderStatus, type OrderStatus } from './statuses';

const UPDATABLE_PATHS = ['status', 'customer_id'];

/**
 * What UpdateOrder does to an order in a final status. The real service has
 * no optimistic concurrency and overwrites it ('accept'); 'refuse' answers
 * FAILED_PRECONDITION, a stricter server than the real one.
 */
export type FinalOrderUpdates = 'accept' | 'refuse';
export const FINAL_ORDER_UPDATES: readonly FinalOrderUpdates[] = ['accept', 'refuse'];

export interface OrderServiceSettings extends PageSizes {
  finalOrderUpdates: FinalOrderUpdates;
}

function toMessage(order: OrderRecord): Order {
  const { name, createTime, updateTime, customerId, status } = order;
  return { name, createTime, updateTime, customerId, status };
}

function requestedStatus(field: string, value: unknown): OrderStatus {
  const status = parseOrderStatus(value);
  if (status === undefined)
    throw invalidArgument(`${field}: ${JSON.stringify(value)} is not an Order.Status`);
  if (status === 'UNKNOWN')
    throw invalidArgument(`${field}: UNKNOWN is not a status an order can have`);
  return status;
}

/** The fields the mask names, taken from the request's order. The whole mask is checked before any value. */
function patchFromMask(order: Order__Output, mask: FieldMask__Output | null): OrderPatch {
  const paths = mask?.paths ?? [];
  if (paths.length === 0) {
    throw invalidArgument(
      `update_mask: must name at least one field (${UPDATABLE_PATHS.join(', ')})`,
    );
  }
  let status = false;
  let customerId = false;
  for (const path of paths) {
    switch (path) {
      case 'status':
        status = true;
        break;
      case 'customer_id':
        customerId = true;
        break;
      case 'name':
      case 'create_time':
      case 'update_time':
        throw invalidArgument(
          `update_mask: ${JSON.stringify(path)} is output only and cannot be updated`,
        );
      default:
        throw invalidArgument(
          `update_mask: unknown field ${JSON.stringify(path)}; updatable fields are ${UPDATABLE_PATHS.join(', ')}`,
        );
    }
  }
  return {
    status: status ? requestedStatus('order.status', order.status) : undefined,
    customerId: customerId ? order.customerId : undefined,
  };
}

export function createOrderService(
  orders: OrderBook,
  settings: OrderServiceSettings,
): Implementation<OrderServiceHandlers> {
  const find = (field: string, name: string): OrderRecord =>
    resolveName('orders', field, name, (n) => orders.get(n));

  return {
    CreateOrder({ order }) {
      if (!order) throw invalidArgument('order: required');
      return toMessage(orders.create(order.customerId));
    },

    GetOrder: ({ name }) => toMessage(find('name', name)),

    ListOrders({ statusFilter, pageSize, pageToken }) {
      const status = parseOrderStatus(statusFilter);
      if (status === undefined)
        throw invalidArgument(
          `status_filter: ${JSON.stringify(statusFilter)} is not an Order.Status`,
        );
      const filter = status === 'UNKNOWN' ? undefined : status;
      const size = resolvePageSize(pageSize, settings);
      const after = decodePageToken(pageToken, filter);
      const page = orders.list(filter, after, size);
      const last = page.orders[page.orders.length - 1];
      return {
        orders: page.orders.map(toMessage),
        nextPageToken: page.more && last ? encodePageToken(filter, last.seq) : '',
      };
    },

    UpdateOrder({ order, updateMask }) {
      if (!order) throw invalidArgument('order: required, with the name of the order to update');
      if (!order.name) throw invalidArgument('order.name: required');
      const patch = patchFromMask(order, updateMask);
      const existing = find('order.name', order.name);
      if (settings.finalOrderUpdates === 'refuse' && isFinalOrderStatus(existing.status)) {
        throw failedPrecondition(
          `${existing.name} is ${existing.status}, a final status; it can no longer be updated`,
        );
      }
      orders.update(existing, patch);
      return toMessage(existing);
    },
  };
}
