// A virtualised list of variable-height rows: only the rows on screen
// (plus a few either side) exist in the DOM, so a room of 10,000 messages
// costs what a room of 30 does. Heights are measured once a row is shown
// and estimated (the mean so far) until then; whenever heights or items
// change above the viewport, the first visible row is kept where it was,
// so nothing jumps while history loads above the reader.

const overscan = 8;

export class VirtualList {
  // viewport is the scrolling element; it must hold one .spacer child.
  // render(item) returns a new element for item; keyOf(item) a unique key.
  // onNearTop() is called after a render that leaves the viewport within
  // one screen of the top.
  constructor(viewport, { render, keyOf, onNearTop }) {
    this.vp = viewport;
    this.spacer = viewport.querySelector('.spacer');
    this.renderItem = render;
    this.keyOf = keyOf;
    this.onNearTop = onNearTop;
    this.items = [];
    this.heights = new Map(); // key → measured px
    this.measuredSum = 0;
    this.estimate = 56;
    this.tops = new Float64Array(1);
    this.index = new Map(); // key → index, rebuilt on structural change
    this.nodes = new Map(); // key → element, the rendered rows only
    this.dirty = false;
    this.reindex = false;
    this.stick = true; // follow the bottom (new messages) until the reader scrolls up
    this.anchor = null;
    this.raf = 0;
    viewport.addEventListener('scroll', () => {
      this.stick = this.vp.scrollTop + this.vp.clientHeight >= this.vp.scrollHeight - 8;
      this.schedule();
    }, { passive: true });
    new ResizeObserver(() => this.schedule()).observe(viewport);
  }

  get length() {
    return this.items.length;
  }

  // reset replaces every item and shows the bottom of the list.
  reset(items) {
    this.items = items;
    this.heights.clear();
    this.measuredSum = 0;
    for (const n of this.nodes.values()) n.remove();
    this.nodes.clear();
    this.stick = true;
    this.anchor = null;
    this.changed();
  }

  // prepend adds items above the current first one, keeping the reader's
  // place.
  prepend(items) {
    if (items.length === 0) return;
    this.keepPlace();
    this.items = items.concat(this.items);
    this.changed();
  }

  // insertAt inserts item at index i (the caller keeps the order).
  insertAt(i, item) {
    this.keepPlace();
    this.items.splice(i, 0, item);
    this.changed();
  }

  // removeAt removes the item at index i.
  removeAt(i) {
    this.keepPlace();
    const [item] = this.items.splice(i, 1);
    this.forget(this.keyOf(item));
    this.changed();
  }

  // refresh renders the item with key again (its content changed).
  refresh(key) {
    if (!this.index.has(key) && !this.dirty) return;
    this.keepPlace();
    this.forget(key);
    this.changed();
  }

  // indexOf returns the index of the item with key, or -1.
  indexOf(key) {
    if (this.dirty) this.layout();
    return this.index.get(key) ?? -1;
  }

  forget(key) {
    const n = this.nodes.get(key);
    if (n) n.remove();
    this.nodes.delete(key);
    const h = this.heights.get(key);
    if (h !== undefined) {
      this.measuredSum -= h;
      this.heights.delete(key);
    }
  }

  // changed marks a structural change (items added, removed or replaced).
  changed() {
    this.dirty = true;
    this.reindex = true;
    this.schedule();
  }

  // keepPlace remembers which row is at the top of the viewport, before a
  // change, unless the list follows the bottom.
  keepPlace() {
    if (this.anchor || this.stick || this.dirty || this.items.length === 0) return;
    this.anchor = this.place();
  }

  place() {
    const st = this.vp.scrollTop;
    const i = this.find(st);
    return { key: this.keyOf(this.items[i]), delta: this.tops[i] - st };
  }

  schedule() {
    if (!this.raf) this.raf = requestAnimationFrame(() => this.render());
  }

  // layout recomputes every row's offset; the key → index map only after
  // a structural change, not after heights alone changed.
  layout() {
    const n = this.items.length;
    if (this.tops.length < n + 1) this.tops = new Float64Array(Math.max(n + 1, this.tops.length * 2));
    if (this.heights.size > 0) this.estimate = this.measuredSum / this.heights.size;
    if (this.reindex) this.index.clear();
    let y = 0;
    for (let i = 0; i < n; i++) {
      const k = this.keyOf(this.items[i]);
      if (this.reindex) this.index.set(k, i);
      this.tops[i] = y;
      y += this.heights.get(k) ?? this.estimate;
    }
    this.tops[n] = y;
    this.dirty = false;
    this.reindex = false;
  }

  // find returns the index of the row at offset y (clamped).
  find(y) {
    let lo = 0;
    let hi = this.items.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.tops[mid] <= y) lo = mid;
      else hi = mid - 1;
    }
    return Math.max(0, lo);
  }

  render() {
    this.raf = 0;
    let anchor = this.anchor;
    this.anchor = null;
    // A few passes: newly shown rows get measured, which moves the rows
    // below them; measure again until the heights settle.
    for (let pass = 0; pass < 4; pass++) {
      if (this.dirty) this.layout();
      const total = this.tops[this.items.length];
      this.spacer.style.height = total + 'px';
      if (this.stick) this.vp.scrollTop = total;
      else if (anchor && this.index.has(anchor.key)) this.vp.scrollTop = this.tops[this.index.get(anchor.key)] - anchor.delta;
      if (!this.paint()) break;
      anchor = this.stick ? null : this.place();
      this.dirty = true;
    }
    if (this.onNearTop && this.items.length > 0 && this.vp.scrollTop < this.vp.clientHeight) this.onNearTop();
  }

  // paint shows the rows in view and reports whether a height changed.
  paint() {
    const n = this.items.length;
    if (n === 0) {
      for (const node of this.nodes.values()) node.remove();
      this.nodes.clear();
      return false;
    }
    const st = this.vp.scrollTop;
    const first = Math.max(0, this.find(st) - overscan);
    const last = Math.min(n - 1, this.find(st + (this.vp.clientHeight || 600)) + overscan);
    const shown = new Map();
    let prev = null;
    for (let i = first; i <= last; i++) {
      const item = this.items[i];
      const k = this.keyOf(item);
      let node = this.nodes.get(k);
      if (!node) node = this.renderItem(item);
      node.style.transform = `translateY(${this.tops[i]}px)`;
      // Keep DOM order = visual order, for reading order and screen readers.
      const want = prev ? prev.nextSibling : this.spacer.firstChild;
      if (node !== want) this.spacer.insertBefore(node, want);
      shown.set(k, node);
      prev = node;
    }
    for (const [k, node] of this.nodes) if (!shown.has(k)) node.remove();
    this.nodes = shown;
    let changed = false;
    for (const [k, node] of shown) {
      const h = node.offsetHeight;
      const old = this.heights.get(k);
      if (old !== h) {
        this.measuredSum += h - (old ?? 0);
        this.heights.set(k, h);
        changed = true;
      }
    }
    return changed;
  }
}
