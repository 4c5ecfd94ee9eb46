// icesim virtual clock: browser time for a replayed page, fired as fast as the host can.
//
// `icesimClock(global, natives)` must stay self-contained (see icesim-realm.mjs): it returns the
// VirtualClock class of that realm, so the timer functions it installs belong to the page.

export function icesimClock(global, natives) {
  const { Object, Reflect, Math, Number, Promise, Map } = global;
  const DEFAULT_EPOCH_MS = 1795000000000; // 2026-11-18T09:46:40Z: a fixed, plausible wall clock.
  const FRAME_MS = 1000 / 60;

  class VirtualClock {
    constructor(options) {
      const opts = options || {};
      this.epochMs = opts.epochMs === undefined ? DEFAULT_EPOCH_MS : Number(opts.epochMs);
      // performance.now() resolution: Chromium coarsens to 0.1 ms, Gecko to 1 ms (no isolation).
      this.quantumMs = opts.quantumMs === undefined ? 0 : Number(opts.quantumMs);
      this.onError = typeof opts.onError === "function" ? opts.onError : (error) => natives.report(error);
      this._now = opts.startMs === undefined ? 0 : Number(opts.startMs);
      this._queue = []; // timers sorted by (time, seq)
      this._timers = new Map(); // id -> timer, the live ones
      this._nextId = 1;
      this._seq = 0;
      this._nesting = 0;
      this.fired = 0;
    }

    /** Virtual ms since the page started (exact, not coarsened). */
    now() { return this._now; }
    performanceNow() {
      const q = this.quantumMs;
      // (the epsilon keeps 40.8 / 0.1 = 407.99999999999994 from reading as 40.7)
      return q > 0 ? Math.round(Math.floor(this._now / q + 1e-7) * q * 1e6) / 1e6 : this._now;
    }
    dateNow() { return Math.floor(this.epochMs + this._now); }
    /** Live timers (page timers and the replay's own). */
    get pending() { return this._timers.size; }
    /** Virtual time of the next due timer, or undefined. */
    nextTime() { const t = this._peek(); return t ? t.time : undefined; }

    setTimeout(handler, timeout, ...args) { return this._add(handler, timeout, args, false); }
    setInterval(handler, timeout, ...args) { return this._add(handler, timeout, args, true); }
    clearTimeout(id) { this._cancel(id); }
    clearInterval(id) { this._cancel(id); }

    _add(handler, timeout, args, repeat) {
      let delay = Number(timeout);
      if (!(delay > 0)) delay = 0;
      // HTML timer initialisation steps: nested timers (level > 5) wait at least 4 ms.
      const nesting = this._nesting + 1;
      if (nesting > 5 && delay < 4) delay = 4;
      const timer = { id: this._nextId++, time: this._now + delay, seq: this._seq++, handler, args,
        delay, repeat, nesting, live: true };
      this._timers.set(timer.id, timer);
      this._insert(timer);
      return timer.id;
    }
    _insert(timer) {
      const queue = this._queue;
      let lo = 0;
      let hi = queue.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const other = queue[mid];
        if (other.time < timer.time || (other.time === timer.time && other.seq < timer.seq)) lo = mid + 1;
        else hi = mid;
      }
      queue.splice(lo, 0, timer);
    }
    _cancel(id) {
      const timer = this._timers.get(id);
      if (!timer) return;
      timer.live = false;
      this._timers.delete(id);
    }
    _peek() {
      const queue = this._queue;
      while (queue.length && !queue[0].live) queue.shift();
      return queue[0];
    }

    /** Fire the next due timer (one task); false when none is left. */
    step(maxMs) {
      const timer = this._peek();
      if (!timer || timer.time > maxMs) return false;
      this._queue.shift();
      if (timer.time > this._now) this._now = timer.time;
      if (timer.repeat) {
        timer.nesting += 1;
        let delay = timer.delay;
        if (timer.nesting > 5 && delay < 4) delay = 4;
        timer.time = this._now + delay;
        timer.seq = this._seq++;
        this._insert(timer);
      } else {
        timer.live = false;
        this._timers.delete(timer.id);
      }
      const outer = this._nesting;
      this._nesting = timer.nesting;
      this.fired += 1;
      try {
        if (typeof timer.handler === "function") Reflect.apply(timer.handler, global, timer.args);
        else (0, global.eval)(String(timer.handler));
      } catch (error) {
        this.onError(error);
      } finally {
        this._nesting = outer;
      }
      return true;
    }

    /**
     * Fire due timers in (time, order), letting the host drain microtasks after each one (as a
     * browser runs microtasks between tasks). Resolves "until" (the predicate held), "maxMs"
     * (the next timer lies beyond maxMs: virtual time stops there) or "idle" (nothing left).
     * `wait(ms)`, when given, paces the timers in real time.
     */
    async run(options) {
      const opts = options || {};
      const until = typeof opts.until === "function" ? opts.until : () => false;
      const maxMs = opts.maxMs === undefined ? Infinity : Number(opts.maxMs);
      const yieldToHost = typeof opts.yieldToHost === "function"
        ? opts.yieldToHost : (resolve) => global.Promise.resolve().then(resolve);
      const pause = () => new Promise((resolve) => yieldToHost(resolve));
      const wait = opts.wait;
      await pause();
      for (;;) {
        if (until()) return "until";
        const next = this._peek();
        if (!next) {
          await pause();
          if (until()) return "until";
          if (!this._peek()) return "idle";
          continue;
        }
        if (next.time > maxMs) {
          if (maxMs > this._now) this._now = maxMs;
          return "maxMs";
        }
        if (wait && next.time > this._now) {
          const target = next.time;
          await wait(target - this._now);
          if (target > this._now) this._now = target;
          continue;
        }
        this.step(maxMs);
        await pause();
      }
    }

    /** Replace the realm's timers, Date and performance by this clock's. */
    install(target) {
      const clock = this;
      const g = target || global;
      const define = (obj, name, value) => Object.defineProperty(obj, name,
        { value, writable: true, enumerable: true, configurable: true });
      const fns = {
        setTimeout(handler, timeout, ...args) { return clock._add(handler, timeout, args, false); },
        setInterval(handler, timeout, ...args) { return clock._add(handler, timeout, args, true); },
        clearTimeout(id) { clock._cancel(id); },
        clearInterval(id) { clock._cancel(id); },
        requestAnimationFrame(callback) {
          const frame = Math.floor(clock._now / FRAME_MS + 1) * FRAME_MS;
          return clock._add(() => callback(clock.performanceNow()), frame - clock._now, [], false);
        },
        cancelAnimationFrame(id) { clock._cancel(id); },
      };
      for (const name of Object.keys(fns)) {
        define(g, name, natives.markNative(fns[name], name));
      }
      Object.defineProperty(fns.setTimeout, "length", { value: 1 });
      Object.defineProperty(fns.setInterval, "length", { value: 1 });
      Object.defineProperty(fns.clearTimeout, "length", { value: 0 });
      Object.defineProperty(fns.clearInterval, "length", { value: 0 });
      this._installDate(g);
      this._installPerformance(g);
      return this;
    }

    _installDate(g) {
      const clock = this;
      const RealDate = g.Date;
      function Date(...args) {
        if (new.target === undefined) return new RealDate(clock.dateNow()).toString();
        return args.length ? Reflect.construct(RealDate, args, new.target)
          : Reflect.construct(RealDate, [clock.dateNow()], new.target);
      }
      Object.defineProperty(Date, "prototype", { value: RealDate.prototype, writable: false,
        enumerable: false, configurable: false });
      Object.defineProperty(Date, "length", { value: 7 });
      Object.defineProperty(RealDate.prototype, "constructor", { value: Date, writable: true,
        enumerable: false, configurable: true });
      const now = { now() { return clock.dateNow(); } }.now;
      Object.defineProperty(Date, "now", { value: natives.markNative(now, "now"), writable: true,
        enumerable: false, configurable: true });
      for (const name of ["parse", "UTC"]) {
        Object.defineProperty(Date, name, { value: RealDate[name], writable: true, enumerable: false,
          configurable: true });
      }
      natives.markNative(Date, "Date");
      Object.defineProperty(g, "Date", { value: Date, writable: true, enumerable: false, configurable: true });
    }

    _installPerformance(g) {
      const clock = this;
      const methods = {
        now() { return clock.performanceNow(); },
        toJSON() { return { timeOrigin: clock.epochMs }; },
      };
      natives.markNative(methods.now, "now");
      natives.markNative(methods.toJSON, "toJSON");
      if (g.performance && typeof g.performance === "object") {
        Object.defineProperty(g.performance, "now", { value: methods.now, writable: true, configurable: true });
        Object.defineProperty(g.performance, "timeOrigin", { get: () => clock.epochMs, configurable: true });
        return;
      }
      class Performance {
        constructor() { throw new TypeError("Illegal constructor"); }
        get timeOrigin() { return clock.epochMs; }
      }
      Object.defineProperty(Performance.prototype, "now", { value: methods.now, writable: true, configurable: true });
      Object.defineProperty(Performance.prototype, "toJSON", { value: methods.toJSON, writable: true, configurable: true });
      natives.finishInterface(Performance, "Performance", 0);
      const performance = Object.create(Performance.prototype);
      natives.defineGlobal("Performance", Performance);
      Object.defineProperty(g, "performance", { value: performance, writable: true, enumerable: true, configurable: true });
    }
  }
  return VirtualClock;
}
