// @ts-check
// The live board in the browser: one EventSource, no framework, no build step.
// The server sends a snapshot first (also after every reconnect), then each
// relation change, removal and transition as it happens, and the summary.
// Every value from the server goes into the page as text, never as HTML.
/* global document, EventSource, HTMLElement, fetch, setInterval, setTimeout */
'use strict';

(() => {
  const COLUMNS = [
    'NEW',
    'PREPARATION',
    'IN_FLIGHT',
    'DELIVERED',
    'REJECTED',
    'CANCELLED',
    'INVALID',
  ];
  const TERMINAL = new Set(['DELIVERED', 'REJECTED', 'CANCELLED']);
  /** @type {Record<string, number>} how far along the lifecycle each status is */
  const RANK = { NEW: 0, PREPARATION: 1, IN_FLIGHT: 2, DELIVERED: 3, REJECTED: 3, CANCELLED: 3 };
  const FEED_LIMIT = 100;
  const RETRY_MS = 3000;
  const ACTIVE = new Set(['NEW', 'PREPARATION', 'IN_FLIGHT']);
  /** @type {Record<string, number>} seconds per active stage after which an order is stuck; from the summary */
  let stuckThresholds = {};

  /**
   * What the server sends, as the tracker makes it (tracker.ts).
   * @typedef {import('./tracker').RelationView} RelationView
   * @typedef {import('./tracker').HealthNote} HealthNote
   * @typedef {import('./tracker').TransitionView} TransitionView
   * @typedef {import('./tracker').Summary & { extra?: Record<string, unknown> }} Summary
   */

  /** @type {Map<string, HTMLElement>} the cards by relation id */
  const cards = new Map();
  /** @type {Map<string, HTMLElement>} the card lists by stage */
  const lists = new Map();
  /** @type {Map<string, RelationView>} the last view of each card, to re-judge stuck ones as time passes */
  const views = new Map();

  /**
   * @param {string} tag
   * @param {Record<string, string>} [attributes]
   * @param {Array<Node | string>} [children]
   */
  function el(tag, attributes = {}, children = []) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    node.append(...children);
    return node;
  }

  /** @param {string} selector */
  function find(selector) {
    const node = document.querySelector(selector);
    if (!(node instanceof HTMLElement))
      throw new Error(`board: ${selector} is missing from the page`);
    return node;
  }

  /** `orders/3f2a…` → `3f2a1b7c`: enough to tell items apart on a card; the full name is in the title. */
  function short(/** @type {string | null} */ name) {
    if (!name) return '';
    const id = name.slice(name.indexOf('/') + 1);
    return id.length > 8 ? id.slice(0, 8) : id;
  }

  function age(/** @type {string} */ since) {
    const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 1000));
    if (Number.isNaN(seconds)) return '';
    if (seconds < 60) return `${seconds}s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
    const hours = Math.floor(minutes / 60);
    return hours < 48
      ? `${hours}h ${String(minutes % 60).padStart(2, '0')}m`
      : `${Math.floor(hours / 24)}d`;
  }

  function buildColumns() {
    const board = find('#board');
    for (const stage of COLUMNS) {
      const title = stage.replace('_', ' ');
      const list = el('div', { class: 'cards' });
      const column = el(
        'section',
        { class: 'column', 'data-stage': stage, 'aria-label': title.toLowerCase() },
        [
          el('header', {}, [
            el('h2', {}, [title]),
            el('span', { class: 'count', 'data-testid': `count-${stage}` }, ['0']),
          ]),
          list,
          el('div', { class: 'empty' }, ['no orders']),
        ],
      );
      // Invalid documents are rare; their column appears only when there are some.
      if (stage === 'INVALID') column.hidden = true;
      board.append(column);
      lists.set(stage, list);
    }
  }

  /**
   * @param {string} key
   * @param {string | null} name
   * @param {string | null} status
   */
  function line(key, name, status) {
    return el('div', { class: 'line' }, [
      el('span', { class: 'key' }, [key]),
      ...(status ? [el('span', { class: 'status', title: `${key} status` }, [status])] : []),
      name
        ? el('span', { class: 'name mono', title: name }, [short(name)])
        : el('span', { class: 'none' }, ['—']),
    ]);
  }

  /**
   * The order's own status, when it tells more than the stage. The poller does
   * not echo statuses the orchestrator set, so a status behind the stage is
   * just old; one ahead of it (say CANCELLED while PREPARATION) is news the
   * orchestrator has yet to act on.
   */
  function orderNews(/** @type {RelationView} */ view) {
    const status = view.orderStatus;
    if (!status || status === view.stage) return null;
    const ahead =
      RANK[status] === undefined ||
      RANK[view.stage] === undefined ||
      RANK[status] >= RANK[view.stage];
    return ahead
      ? el('div', { class: 'line news' }, [
          el('span', { class: 'key' }, ['order']),
          el('span', { class: 'status', title: "the order's status at the food service" }, [
            status,
          ]),
        ])
      : null;
  }

  /** The red flag: the error first, else a look-up failure, else possible orphans; null when all is well. */
  function flag(/** @type {RelationView} */ view) {
    const notes = [];
    if (view.error)
      notes.push(
        `${view.error.code}: ${view.error.message}${view.error.transient ? ' (transient: retried automatically)' : ' (waits for a person)'}`,
      );
    if (view.observationError) notes.push(`look-up failed: ${view.observationError}`);
    if (view.possibleOrphans > 0)
      notes.push(
        `${view.possibleOrphans} possible orphan(s): an earlier attempt may have created something nobody recorded`,
      );
    if (notes.length === 0) return null;
    const onlyTransient =
      view.error?.transient === true && !view.observationError && view.possibleOrphans === 0;
    let label = `⚠ ${view.possibleOrphans} possible orphan${view.possibleOrphans === 1 ? '' : 's'}`;
    if (view.error) label = `⚠ ${view.error.code}${view.error.transient ? ' · retrying' : ''}`;
    else if (view.observationError) label = '⚠ look-up failed';
    return el(
      'div',
      {
        class: `flag${onlyTransient ? ' transient' : ''}`,
        'data-testid': 'flag',
        title: notes.join('\n'),
      },
      [label],
    );
  }

  /** The reasons the order needs a person, one badge each; stuck is judged here, live, from the stage's threshold. */
  function healthBadges(/** @type {RelationView} */ view) {
    const notes = view.health.filter((note) => note.reason !== 'stuck');
    const limit = stuckThresholds[view.stage];
    const seconds = Math.floor((Date.now() - Date.parse(view.stageSince)) / 1000);
    const flagged = notes.some((note) => note.reason === 'flagged');
    if (ACTIVE.has(view.stage) && !flagged && limit !== undefined && seconds > limit) {
      notes.push({
        reason: 'stuck',
        since: view.stageSince,
        detail: `in ${view.stage} for ${age(view.stageSince)}, longer than its ${limit} s threshold`,
      });
    }
    return el(
      'div',
      { class: 'health', 'data-testid': 'health' },
      notes.map((note) =>
        el(
          'span',
          { class: `reason reason-${note.reason}`, 'data-reason': note.reason, title: note.detail },
          [
            `${note.reason}: ${note.reason === 'flagged' ? (view.error?.code ?? '') : note.reason === 'orphans' ? `${view.openOrphans} open` : age(view.stageSince)}`,
          ],
        ),
      ),
    );
  }

  function renderCard(/** @type {RelationView} */ view) {
    const problem = flag(view);
    const news = orderNews(view);
    const since = el(
      'span',
      {
        class: 'age',
        'data-since': view.stageSince,
        title: `in ${view.stage} since ${view.stageSince}`,
      },
      [age(view.stageSince)],
    );
    return el(
      'article',
      {
        class: `card stage-${view.stage}${problem ? ' flagged' : ''}`,
        'data-order-id': view.id,
        'data-since': view.stageSince,
      },
      [
        el('div', { class: 'card-head' }, [
          el('span', { class: 'id mono', title: view.order ?? view.id }, [
            short(view.order ?? view.id),
          ]),
          since,
        ]),
        ...(news ? [news] : []),
        line('kitchen', view.kitchenOrder, view.kitchenOrderStatus),
        line('drone', view.shipment, view.shipmentStatus),
        ...(problem ? [problem] : []),
        healthBadges(view),
      ],
    );
  }

  /** Active columns list the longest-waiting first; finished ones the most recent first. */
  function before(/** @type {string} */ stage, /** @type {string} */ a, /** @type {string} */ b) {
    return TERMINAL.has(stage) ? a > b : a < b;
  }

  function upsert(/** @type {RelationView} */ view) {
    const list = lists.get(view.stage) ?? lists.get('INVALID');
    if (!list) return;
    const old = cards.get(view.id);
    const card = renderCard(view);
    const moved = old !== undefined && old.parentElement !== list;
    old?.remove();
    const next = [...list.children].find(
      (other) =>
        other instanceof HTMLElement &&
        before(view.stage, view.stageSince, other.dataset.since ?? ''),
    );
    list.insertBefore(card, next ?? null);
    if (moved) card.classList.add('moved');
    card.addEventListener('click', () => void openHistory(view.id));
    views.set(view.id, view);
    cards.set(view.id, card);
    if (view.stage === 'INVALID' && list.parentElement) list.parentElement.hidden = false;
  }

  function remove(/** @type {string} */ id) {
    cards.get(id)?.remove();
    cards.delete(id);
    views.delete(id);
  }

  /** One line of the history: when, which entry, and what it says. */
  function historyLine(/** @type {Record<string, unknown>} */ entry) {
    const at = String(entry.claimedAt ?? entry.at ?? '');
    const parts = [];
    if (entry.created) parts.push(`created ${String(entry.created)}`);
    if (entry.failure && typeof entry.failure === 'object') {
      const failure = /** @type {Record<string, unknown>} */ (entry.failure);
      parts.push(`failed: ${String(failure.code)}: ${String(failure.message)}`);
    }
    if (entry.by) parts.push(`by ${String(entry.by)}: ${String(entry.reason ?? '')}`);
    if (entry.cleared && typeof entry.cleared === 'object')
      parts.push(`cleared ${String(/** @type {Record<string, unknown>} */ (entry.cleared).code)}`);
    if (entry.approvedBy) parts.push(`approved by ${String(entry.approvedBy)}`);
    return el('li', { 'data-testid': 'history-entry', 'data-id': String(entry.id) }, [
      el('time', { datetime: at }, [
        at ? new Date(at).toLocaleTimeString([], { hour12: false }) : '—',
      ]),
      el('b', {}, [String(entry.id)]),
      el('span', {}, [parts.join(' · ') || String(entry.step ?? '')]),
    ]);
  }

  /** Opens the panel with the order's relation and history, as the status API tells them. */
  async function openHistory(/** @type {string} */ id) {
    const panel = find('#history');
    const body = find('[data-testid="history-body"]');
    panel.hidden = false;
    panel.dataset.orderId = id;
    find('[data-testid="history-title"]').textContent = views.get(id)?.order ?? id;
    body.replaceChildren(el('p', { class: 'muted' }, ['loading…']));
    try {
      const answer = await fetch(`/api/orders/${encodeURIComponent(id)}`);
      const status = await answer.json();
      if (panel.dataset.orderId !== id) return;
      if (!answer.ok) {
        body.replaceChildren(el('p', { class: 'error' }, [String(status.error ?? answer.status)]));
        return;
      }
      const relation = status.relation;
      /** @type {HealthNote[]} */
      const health = relation.health;
      body.replaceChildren(
        el('p', {}, [`stage ${relation.stage} since ${relation.times.stageSince ?? '?'}`]),
        el(
          'ul',
          { class: 'needs', 'data-testid': 'history-health' },
          health.length
            ? health.map((note) =>
                el('li', { 'data-reason': note.reason }, [`${note.reason}: ${note.detail}`]),
              )
            : [el('li', { class: 'muted' }, ['nothing needs a person'])],
        ),
        el('ol', { class: 'entries' }, status.history.map(historyLine)),
      );
    } catch (error) {
      body.replaceChildren(
        el('p', { class: 'error' }, [`could not load the history: ${String(error)}`]),
      );
    }
  }

  function addTransition(/** @type {TransitionView} */ t) {
    const feed = find('[data-testid="feed"]');
    const from = t.from
      ? el('span', { class: `pill stage-${t.from}` }, [t.from])
      : el('span', { class: 'pill created' }, ['created']);
    const time = new Date(t.at).toLocaleTimeString([], { hour12: false });
    feed.prepend(
      el('li', { 'data-order-id': t.id }, [
        el('time', { datetime: t.at }, [time]),
        el('span', { title: t.order ?? t.id }, [short(t.order ?? t.id)]),
        from,
        el('span', { class: 'arrow' }, ['→']),
        el('span', { class: `pill stage-${t.to}` }, [t.to]),
      ]),
    );
    while (feed.children.length > FEED_LIMIT) feed.lastElementChild?.remove();
  }

  function setText(/** @type {string} */ testid, /** @type {string} */ text) {
    find(`[data-testid="${testid}"]`).textContent = text;
  }

  function showSummary(/** @type {Summary} */ s) {
    for (const stage of COLUMNS) setText(`count-${stage}`, String(s.stages[stage] ?? 0));
    if ((s.stages.INVALID ?? 0) > 0) find('[data-stage="INVALID"]').hidden = false;
    setText('summary-active', String(s.active));
    setText('summary-finished', String(s.finished));
    setText('summary-rate', s.transitionsPerSecond.toFixed(1));
    setText('summary-errors', `${s.errors.transient} / ${s.errors.flagged}`);
    setText('summary-orphans', String(s.possibleOrphans));
    if (s.health) {
      setText('summary-health', `${s.health.flagged} / ${s.health.orphans} / ${s.health.stuck}`);
      find('#health-metric').classList.toggle(
        'alert',
        s.health.flagged + s.health.orphans + s.health.stuck > 0,
      );
    }
    if (s.stuckThresholds) stuckThresholds = s.stuckThresholds;
    find('#errors-metric').classList.toggle('alert', s.errors.flagged > 0);
    find('#orphans-metric').classList.toggle('alert', s.possibleOrphans > 0);
    showExtra(s.extra ?? {});
  }

  /** Figures the runner adds (e.g. the food service's stats): plain values, and one level of nesting. */
  function showExtra(/** @type {Record<string, unknown>} */ extra) {
    /** @type {Array<[string, string]>} */
    const figures = [];
    for (const [key, value] of Object.entries(extra)) {
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        for (const [inner, v] of Object.entries(value))
          if (isPlain(v)) figures.push([`${key}.${inner}`, String(v)]);
      } else if (isPlain(value)) {
        figures.push([key, String(value)]);
      }
    }
    find('[data-testid="summary-extra"]').replaceChildren(
      ...figures.map(([key, value]) => el('span', {}, [`${key} `, el('b', {}, [value])])),
    );
  }

  function isPlain(/** @type {unknown} */ value) {
    return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
  }

  function connected(/** @type {'connecting' | 'live' | 'down'} */ state) {
    const node = find('#connection');
    node.dataset.state = state;
    node.textContent = { connecting: 'connecting…', live: 'live', down: 'disconnected · retrying' }[
      state
    ];
  }

  function connect() {
    const source = new EventSource('/api/events');
    source.onopen = () => connected('live');
    // EventSource retries a dropped stream by itself, but gives up after an
    // HTTP error (e.g. while the runner restarts); then we retry. Either way
    // the server's snapshot on reconnect puts the page right again.
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) return connected('connecting');
      connected('down');
      setTimeout(connect, RETRY_MS);
    };
    source.addEventListener('snapshot', (event) => {
      const snapshot = JSON.parse(event.data);
      // The thresholds first: the cards are judged stuck or not as they are drawn.
      if (snapshot.summary.stuckThresholds) stuckThresholds = snapshot.summary.stuckThresholds;
      for (const list of lists.values()) list.replaceChildren();
      cards.clear();
      views.clear();
      find('[data-testid="feed"]').replaceChildren();
      for (const view of snapshot.relations) upsert(view);
      for (const t of snapshot.transitions) addTransition(t);
      showSummary(snapshot.summary);
      connected('live');
    });
    source.addEventListener('relation', (event) => upsert(JSON.parse(event.data)));
    source.addEventListener('removed', (event) => remove(JSON.parse(event.data).id));
    source.addEventListener('transition', (event) => addTransition(JSON.parse(event.data)));
    source.addEventListener('summary', (event) => showSummary(JSON.parse(event.data)));
  }

  buildColumns();
  find('[data-testid="history-close"]').addEventListener('click', () => {
    find('#history').hidden = true;
  });
  connect();
  setInterval(() => {
    for (const node of document.querySelectorAll('.age')) {
      if (node instanceof HTMLElement && node.dataset.since)
        node.textContent = age(node.dataset.since);
    }
    // An order becomes stuck by time alone, with no change to send: its badges are judged again.
    for (const [id, view] of views) {
      const badges = cards.get(id)?.querySelector('[data-testid="health"]');
      if (badges && ACTIVE.has(view.stage)) badges.replaceWith(healthBadges(view));
    }
  }, 1000);
})();
