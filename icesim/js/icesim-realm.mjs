// icesim realm kit: what every interface the module defines needs from the realm it lives in.
//
// `icesimNatives(global, family)` must stay self-contained (it refers to nothing but its
// parameters and the realm's own built-ins): the runner evaluates its source text inside each
// vm context so that the classes, prototypes and functions belong to that realm, as a page's do.

export function icesimNatives(global, family) {
  const { Object, Reflect, WeakMap, Map, TypeError, Error, String, Symbol } = global;
  const FunctionProto = global.Function.prototype;
  const originalToString = FunctionProto.toString;
  const nativeNames = new WeakMap();
  // Chromium and WebKit print `function X() { [native code] }`, Gecko puts it on its own line.
  // Gecko also drops the "get "/"set " of accessor names (capture: API_FACTS.md, Firefox).
  const printNative = family === "firefox"
    ? (name) => "function " + name.replace(/^[gs]et (?=\S)/, "") + "() {\n    [native code]\n}"
    : (name) => "function " + name + "() { [native code] }";

  const patchedToString = {
    toString() {
      const name = nativeNames.get(this);
      if (name !== undefined) return printNative(name);
      return Reflect.apply(originalToString, this, []);
    },
  }.toString;
  nativeNames.set(patchedToString, "toString");
  Object.defineProperty(FunctionProto, "toString", {
    value: patchedToString, writable: true, enumerable: false, configurable: true,
  });

  function markNative(fn, name) {
    if (typeof fn === "function") nativeNames.set(fn, name === undefined ? fn.name : name);
    return fn;
  }

  let reportError = (error) => {
    if (global.console && typeof global.console.error === "function") global.console.error(error);
  };

  // The interface object a page sees: a proxy of the class, so that calling it without `new`
  // throws the browser's text and its [[Prototype]] is the parent interface's page object.
  const exposed = new WeakMap();
  const noNewMessage = family === "firefox"
    ? (name) => name + " constructor: 'new' is required"
    : (name) => "Failed to construct '" + name + "': Please use the 'new' operator, this DOM object "
      + "constructor cannot be called as a function.";
  function expose(Ctor, name) {
    const proxy = new Proxy(Ctor, {
      apply() { throw new TypeError(noNewMessage(name)); },
      getPrototypeOf(target) {
        const parent = Reflect.getPrototypeOf(target);
        return exposed.get(parent) || parent;
      },
    });
    exposed.set(Ctor, proxy);
    markNative(proxy, name);
    return proxy;
  }

  // WebIDL shape: operations and attributes are enumerable, listed in the browser's order with
  // `constructor` last, the tag is the interface name, the constructor's length counts its
  // required arguments, and all of it prints as native code. `order` (names, optional) lists
  // the members the browser has: the others are removed.
  function finishInterface(Ctor, name, length, order) {
    const proto = Ctor.prototype;
    const descriptors = new Map();
    for (const key of Reflect.ownKeys(proto)) {
      const desc = Object.getOwnPropertyDescriptor(proto, key);
      markNative(desc.value);
      markNative(desc.get);
      markNative(desc.set);
      descriptors.set(key, desc);
    }
    const names = [...descriptors.keys()].filter((k) => typeof k === "string" && k !== "constructor");
    const kept = order ? order.filter((k) => descriptors.has(k)) : names;
    // Members already in the browser's order stay in place (cheaper); else all are re-added.
    const inPlace = kept.length === names.length && kept.every((k, i) => k === names[i]);
    for (const key of descriptors.keys()) {
      if (!inPlace || key === "constructor" || typeof key === "symbol") delete proto[key];
    }
    for (const key of kept) {
      const desc = descriptors.get(key);
      if (!("value" in desc) || typeof desc.value === "function") desc.enumerable = true;
      else desc.configurable = false; // a WebIDL constant
      Object.defineProperty(proto, key, desc);
    }
    const ctorDesc = descriptors.get("constructor");
    ctorDesc.value = expose(Ctor, name);
    Object.defineProperty(proto, "constructor", ctorDesc);
    Object.defineProperty(proto, Symbol.toStringTag, {
      value: name, writable: false, enumerable: false, configurable: true,
    });
    for (const key of descriptors.keys()) {
      if (typeof key === "symbol" && key !== Symbol.toStringTag) Object.defineProperty(proto, key, descriptors.get(key));
    }
    Object.defineProperty(Ctor, "length", { value: length, configurable: true });
    for (const key of Reflect.ownKeys(Ctor)) {
      const desc = Object.getOwnPropertyDescriptor(Ctor, key);
      if (typeof desc.value === "function") markNative(desc.value);
    }
    markNative(Ctor, name);
    return Ctor;
  }

  // Define a global; an interface class is exposed as its page object (see expose()).
  function defineGlobal(name, value) {
    const page = exposed.get(value) || value;
    Object.defineProperty(global, name, { value: page, writable: true, enumerable: false, configurable: true });
  }
  const pageObject = (value) => exposed.get(value) || value;

  // --- DOMException (a bare vm context has none) ---------------------------------------------
  const EXCEPTION_CODES = {
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
    NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InvalidStateError: 11,
    SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14, InvalidAccessError: 15,
    TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20,
    URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24,
    DataCloneError: 25,
  };
  let DOMException = global.DOMException;
  if (typeof DOMException !== "function") {
    const exceptionSlots = new WeakMap();
    DOMException = class DOMException extends Error {
      constructor(message, name) {
        super();
        exceptionSlots.set(this, {
          message: message === undefined ? "" : String(message),
          name: name === undefined ? "Error" : String(name),
        });
        if (typeof Error.captureStackTrace === "function") Error.captureStackTrace(this, new.target);
      }
      get name() { return exceptionSlots.get(this).name; }
      get message() { return exceptionSlots.get(this).message; }
      get code() { return EXCEPTION_CODES[exceptionSlots.get(this).name] || 0; }
    };
    finishInterface(DOMException, "DOMException", 0);
    for (const [key, code] of Object.entries(EXCEPTION_CODES)) {
      const constant = key.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase().replace(/_ERROR$/, "_ERR");
      const desc = { value: code, writable: false, enumerable: true, configurable: false };
      Object.defineProperty(DOMException, constant, desc);
      Object.defineProperty(DOMException.prototype, constant, desc);
    }
    defineGlobal("DOMException", DOMException);
  }
  const domException = (name, message) => new DOMException(message, name);

  // --- Event and EventTarget: the realm's own in a page, spec-shaped ones in a bare context ---
  const now = () => (global.performance && typeof global.performance.now === "function"
    ? global.performance.now() : 0);
  let Event = global.Event;
  let EventTarget = global.EventTarget;
  const ownEvents = typeof Event !== "function" || typeof EventTarget !== "function";
  const eventSlots = new WeakMap();
  const listenerLists = new WeakMap();

  if (ownEvents) {
    const isTrustedGetter = markNative(Object.getOwnPropertyDescriptor(
      { get isTrusted() { return eventSlots.get(this).trusted; } }, "isTrusted").get);
    Event = class Event {
      constructor(type, eventInitDict) {
        if (arguments.length < 1) {
          throw new TypeError("Failed to construct 'Event': 1 argument required, but only 0 present.");
        }
        const init = eventInitDict == null ? {} : eventInitDict;
        eventSlots.set(this, {
          type: String(type), bubbles: !!init.bubbles, cancelable: !!init.cancelable,
          composed: !!init.composed, target: null, currentTarget: null, eventPhase: 0,
          canceled: false, stop: false, stopImmediate: false, trusted: false,
          timeStamp: now(), dispatching: false, passive: false,
        });
        Object.defineProperty(this, "isTrusted", { get: isTrustedGetter, enumerable: true, configurable: false });
      }
      get type() { return eventSlots.get(this).type; }
      get target() { return eventSlots.get(this).target; }
      get currentTarget() { return eventSlots.get(this).currentTarget; }
      get eventPhase() { return eventSlots.get(this).eventPhase; }
      get bubbles() { return eventSlots.get(this).bubbles; }
      get cancelable() { return eventSlots.get(this).cancelable; }
      get defaultPrevented() { return eventSlots.get(this).canceled; }
      get composed() { return eventSlots.get(this).composed; }
      get timeStamp() { return eventSlots.get(this).timeStamp; }
      get srcElement() { return eventSlots.get(this).target; }
      get returnValue() { return !eventSlots.get(this).canceled; }
      set returnValue(value) { if (!value) this.preventDefault(); }
      get cancelBubble() { return eventSlots.get(this).stop; }
      set cancelBubble(value) { if (value) eventSlots.get(this).stop = true; }
      composedPath() {
        const slot = eventSlots.get(this);
        return slot.dispatching && slot.currentTarget ? [slot.currentTarget] : [];
      }
      stopPropagation() { eventSlots.get(this).stop = true; }
      stopImmediatePropagation() { const slot = eventSlots.get(this); slot.stop = true; slot.stopImmediate = true; }
      preventDefault() { const slot = eventSlots.get(this); if (slot.cancelable && !slot.passive) slot.canceled = true; }
      initEvent(type, bubbles, cancelable) {
        const slot = eventSlots.get(this);
        if (slot.dispatching) return;
        Object.assign(slot, { type: String(type), bubbles: !!bubbles, cancelable: !!cancelable,
          stop: false, stopImmediate: false, canceled: false });
      }
    };
    const constants = { NONE: 0, CAPTURING_PHASE: 1, AT_TARGET: 2, BUBBLING_PHASE: 3 };
    if (family === "firefox") {
      Object.assign(constants, { ALT_MASK: 1, CONTROL_MASK: 2, SHIFT_MASK: 4, META_MASK: 8 });
      for (const key of ["originalTarget", "explicitOriginalTarget"]) {
        Object.defineProperty(Event.prototype, key, { get: Object.getOwnPropertyDescriptor(
          { get [key]() { return eventSlots.get(this).target; } }, key).get, configurable: true });
      }
    }
    for (const [key, value] of Object.entries(constants)) {
      const desc = { value, writable: false, enumerable: true, configurable: false };
      Object.defineProperty(Event, key, desc);
      Object.defineProperty(Event.prototype, key, Object.assign({}, desc, { configurable: true }));
    }
    // capture (API_FACTS.md): prototype member order per browser
    finishInterface(Event, "Event", 1, (family === "firefox"
      ? "composedPath stopPropagation stopImmediatePropagation preventDefault initEvent type target srcElement "
        + "currentTarget eventPhase bubbles cancelable returnValue defaultPrevented composed timeStamp cancelBubble "
        + "originalTarget explicitOriginalTarget NONE CAPTURING_PHASE AT_TARGET BUBBLING_PHASE ALT_MASK CONTROL_MASK "
        + "SHIFT_MASK META_MASK"
      : "type target currentTarget eventPhase bubbles cancelable defaultPrevented composed timeStamp srcElement "
        + "returnValue cancelBubble NONE CAPTURING_PHASE AT_TARGET BUBBLING_PHASE composedPath initEvent "
        + "preventDefault stopImmediatePropagation stopPropagation").split(" "));

    const flatten = (options) => (typeof options === "object" && options !== null
      ? { capture: !!options.capture, once: !!options.once, passive: !!options.passive, signal: options.signal }
      : { capture: !!options, once: false, passive: false, signal: undefined });

    EventTarget = class EventTarget {
      constructor() { listenerLists.set(this, new Map()); }
      addEventListener(type, callback, options) {
        if (arguments.length < 2) {
          throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': 2 arguments required, but only "
            + arguments.length + " present.");
        }
        if (callback === null || (typeof callback !== "function" && typeof callback !== "object")) return;
        const flags = flatten(options);
        if (flags.signal && flags.signal.aborted) return;
        const lists = listenerLists.get(this);
        const key = String(type);
        let list = lists.get(key);
        if (!list) { list = []; lists.set(key, list); }
        if (list.some((l) => l.callback === callback && l.capture === flags.capture)) return;
        const listener = { callback, capture: flags.capture, once: flags.once, passive: flags.passive, removed: false };
        list.push(listener);
        if (flags.signal && typeof flags.signal.addEventListener === "function") {
          flags.signal.addEventListener("abort", () => removeListener(this, key, listener));
        }
      }
      removeEventListener(type, callback, options) {
        const list = listenerLists.get(this).get(String(type));
        if (!list) return;
        const capture = flatten(options).capture;
        const found = list.find((l) => l.callback === callback && l.capture === capture);
        if (found) removeListener(this, String(type), found);
      }
      dispatchEvent(event) {
        const slot = eventSlots.get(event);
        if (!slot) {
          throw new TypeError("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
        }
        if (slot.dispatching) {
          throw domException("InvalidStateError",
            "Failed to execute 'dispatchEvent' on 'EventTarget': The event is already being dispatched.");
        }
        slot.trusted = false;
        return dispatchOwn(this, event, slot);
      }
    };
    finishInterface(EventTarget, "EventTarget", 0, (family === "firefox"
      ? "addEventListener removeEventListener dispatchEvent" : "addEventListener dispatchEvent removeEventListener")
      .split(" "));
    defineGlobal("Event", Event);
    defineGlobal("EventTarget", EventTarget);
  }

  function removeListener(target, type, listener) {
    listener.removed = true;
    const list = listenerLists.get(target).get(type);
    const at = list.indexOf(listener);
    if (at >= 0) list.splice(at, 1);
  }

  // DOM "inner invoke": listeners registered at dispatch time, in order, each error reported
  // (as a browser reports it to window.onerror) without stopping the others.
  function dispatchOwn(target, event, slot) {
    slot.dispatching = true;
    slot.target = target;
    slot.currentTarget = target;
    slot.eventPhase = 2;
    const list = listenerLists.get(target).get(slot.type);
    if (list && list.length) {
      for (const listener of list.slice()) {
        if (listener.removed) continue;
        if (listener.once) removeListener(target, slot.type, listener);
        slot.passive = listener.passive;
        try {
          const cb = listener.callback;
          if (typeof cb === "function") Reflect.apply(cb, target, [event]);
          else {
            const handleEvent = cb.handleEvent;
            if (typeof handleEvent !== "function") throw new TypeError("The provided callback is not callable.");
            Reflect.apply(handleEvent, cb, [event]);
          }
        } catch (error) {
          reportError(error);
        }
        slot.passive = false;
        if (slot.stopImmediate) break;
      }
    }
    slot.dispatching = false;
    slot.eventPhase = 0;
    slot.currentTarget = null;
    slot.stop = false;
    slot.stopImmediate = false;
    return !slot.canceled;
  }

  const nativeAdd = EventTarget.prototype.addEventListener;
  const nativeRemove = EventTarget.prototype.removeEventListener;
  const nativeDispatch = EventTarget.prototype.dispatchEvent;

  // An event the browser itself fires: isTrusted true where the realm lets us say so.
  function fire(target, event) {
    if (ownEvents) {
      const slot = eventSlots.get(event);
      slot.trusted = true;
      return dispatchOwn(target, event, slot);
    }
    return Reflect.apply(nativeDispatch, target, [event]);
  }

  // HTML event handler attributes: the handler takes the listener position where it was first
  // set (non-null), keeps it while replaced, and loses it when set to null.
  const handlerSlots = new WeakMap();
  function getHandler(target, type) {
    const handlers = handlerSlots.get(target);
    const record = handlers && handlers.get(type);
    return record ? record.value : null;
  }
  function setHandler(target, type, value) {
    const handlers = handlerSlots.get(target) || new Map();
    handlerSlots.set(target, handlers);
    let record = handlers.get(type);
    if (!record) { record = { value: null, listener: null }; handlers.set(type, record); }
    const callable = typeof value === "function" || (typeof value === "object" && value !== null);
    if (!callable) {
      if (record.listener) Reflect.apply(nativeRemove, target, [type, record.listener]);
      record.value = null;
      record.listener = null;
      return;
    }
    record.value = value;
    if (!record.listener) {
      record.listener = function (event) {
        const handler = record.value;
        if (typeof handler !== "function") return;
        const result = Reflect.apply(handler, this, [event]);
        if (result === false) event.preventDefault();
      };
      Reflect.apply(nativeAdd, target, [type, record.listener]);
    }
  }
  // `on<type>` accessors for a prototype, native-looking.
  function defineHandlers(proto, types) {
    for (const type of types) {
      const accessors = {
        get ["on" + type]() { return getHandler(this, type); },
        set ["on" + type](value) { setHandler(this, type, value); },
      };
      const desc = Object.getOwnPropertyDescriptor(accessors, "on" + type);
      markNative(desc.get);
      markNative(desc.set);
      desc.enumerable = true;
      Object.defineProperty(proto, "on" + type, desc);
    }
  }

  // Make an existing object (the page's global) an event target of our own EventTarget.
  function adoptEventTarget(object) {
    if (ownEvents && !listenerLists.has(object)) listenerLists.set(object, new Map());
  }

  // Internal slots of the objects an interface hands out: the page cannot construct them
  // ("Illegal constructor") and a method called on a foreign object throws "Illegal invocation".
  function slotStore() {
    const slots = new WeakMap();
    return {
      has: (object) => slots.has(object),
      set: (object, slot) => { slots.set(object, slot); return object; },
      slotOf(object) {
        const slot = slots.get(object);
        if (slot === undefined) throw new TypeError("Illegal invocation");
        return slot;
      },
      illegal() { throw new TypeError("Illegal constructor"); },
    };
  }

  return {
    adoptEventTarget, slotStore,
    markNative, finishInterface, defineGlobal, pageObject, domException, DOMException, Event, EventTarget,
    ownEvents, fire, defineHandlers, getHandler, now,
    report(error) { reportError(error); },
    setErrorReporter(fn) { reportError = fn; },
  };
}
