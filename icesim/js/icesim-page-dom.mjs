// icesim page DOM: a minimal, spec-shaped `document` and inert elements for the Node runner's
// page (never installed in a real page, whose own document stays). Enough for fingerprinting
// scripts that read the document, create an element or a canvas, append a node or set a cookie:
// nothing is laid out or rendered, no HTML is parsed, no script runs and no style applies (an
// image, a script or an iframe with a src is "loaded" through page.load: recorded, never sent).
//
// Self-contained like the other icesim-*.mjs parts: it refers to nothing but its parameters and
// the realm's own built-ins (the runner evaluates its source text inside each vm context).

export function icesimPageDom(global, natives, page) {
  const { Object, Map, WeakMap, String, Number, TypeError, Symbol, Proxy, Reflect } = global;
  const N = natives;
  const slots = N.slotStore();
  const { slotOf, illegal } = slots;
  const make = (Ctor, slot) => {
    const object = Object.create(Ctor.prototype);
    N.adoptEventTarget(object);
    slots.set(object, slot);
    return object;
  };

  // A NodeList / HTMLCollection snapshot: indexed, length, item(), iterable.
  function listClass(name) {
    class List {
      constructor() { illegal(); }
      get length() { return slotOf(this).items.length; }
      item(index) { const item = slotOf(this).items[Number(index) >>> 0]; return item === undefined ? null : item; }
      forEach(callback, thisArg) { slotOf(this).items.forEach((n, i) => callback.call(thisArg, n, i, this)); }
      [Symbol.iterator]() { return slotOf(this).items.values(); }
    }
    if (name === "HTMLCollection") delete List.prototype.forEach;
    N.finishInterface(List, name, 0);
    return List;
  }
  const NodeList = listClass("NodeList");
  const HTMLCollection = listClass("HTMLCollection");
  const listOf = (Ctor, items) => {
    const list = make(Ctor, { items });
    items.forEach((item, i) => Object.defineProperty(list, i, { value: item, enumerable: true }));
    return list;
  };

  // --- Node, Element, HTMLElement --------------------------------------------------------------
  class Node extends N.EventTarget {
    constructor() { super(); illegal(); }
    get nodeType() { return slotOf(this).nodeType; }
    get nodeName() { const s = slotOf(this); return s.nodeType === 1 ? s.tag.toUpperCase() : s.nodeName; }
    get ownerDocument() { return slotOf(this).nodeType === 9 ? null : document; }
    get parentNode() { return slotOf(this).parent; }
    get parentElement() { const p = slotOf(this).parent; return p && slotOf(p).nodeType === 1 ? p : null; }
    get childNodes() { return listOf(NodeList, slotOf(this).children.slice()); }
    get firstChild() { return slotOf(this).children[0] || null; }
    get lastChild() { const c = slotOf(this).children; return c[c.length - 1] || null; }
    get nextSibling() { return sibling(this, 1); }
    get previousSibling() { return sibling(this, -1); }
    get isConnected() { let n = this; while (slotOf(n).parent) n = slotOf(n).parent; return n === document; }
    get textContent() { const s = slotOf(this); return s.nodeType === 9 ? null : s.text; }
    set textContent(value) { const s = slotOf(this); if (s.nodeType !== 9) { s.text = value == null ? "" : String(value); } }
    hasChildNodes() { return slotOf(this).children.length > 0; }
    contains(other) { for (let n = other; n; n = slotOf(n).parent) if (n === this) return true; return false; }
    appendChild(child) { return insert(this, child, null, "appendChild"); }
    insertBefore(child, reference) { return insert(this, child, reference == null ? null : reference, "insertBefore"); }
    removeChild(child) {
      const list = slotOf(this).children;
      const at = list.indexOf(child);
      if (at < 0) {
        throw N.domException("NotFoundError",
          "Failed to execute 'removeChild' on 'Node': The node to be removed is not a child of this node.");
      }
      list.splice(at, 1);
      slotOf(child).parent = null;
      return child;
    }
  }
  N.finishInterface(Node, "Node", 0);
  const NODE_TYPES = { ELEMENT_NODE: 1, TEXT_NODE: 3, COMMENT_NODE: 8, DOCUMENT_NODE: 9, DOCUMENT_FRAGMENT_NODE: 11 };
  for (const [key, value] of Object.entries(NODE_TYPES)) {
    const desc = { value, writable: false, enumerable: true, configurable: false };
    Object.defineProperty(Node, key, desc);
    Object.defineProperty(Node.prototype, key, desc);
  }
  function sibling(node, step) {
    const parent = slotOf(node).parent;
    if (!parent) return null;
    const list = slotOf(parent).children;
    return list[list.indexOf(node) + step] || null;
  }
  function insert(parent, child, reference, method) {
    if (!slots.has(child) || slotOf(child).nodeType === 9) {
      throw new TypeError(`Failed to execute '${method}' on 'Node': parameter 1 is not of type 'Node'.`);
    }
    if (child.contains(parent)) {
      throw N.domException("HierarchyRequestError",
        `Failed to execute '${method}' on 'Node': The new child element contains the parent.`);
    }
    const old = slotOf(child).parent;
    if (old) old.removeChild(child);
    const list = slotOf(parent).children;
    const at = reference === null ? list.length : list.indexOf(reference);
    if (at < 0) {
      throw N.domException("NotFoundError", `Failed to execute '${method}' on 'Node': The node before which the new `
        + "node is to be inserted is not a child of this node.");
    }
    list.splice(at, 0, child);
    slotOf(child).parent = parent;
    if (child.isConnected) {
      for (const node of [child, ...descendants(child)]) { const hook = slotOf(node).onConnect; if (hook) hook(node); }
    }
    return child;
  }
  // Tag names ("div"), "#id" and ".class" selectors over the tree; anything else matches nothing.
  function descendants(root) {
    const out = [];
    const walk = (n) => { for (const c of slotOf(n).children) { if (slotOf(c).nodeType === 1) out.push(c); walk(c); } };
    walk(root);
    return out;
  }
  function matcher(selector) {
    const text = String(selector).trim();
    if (/^[a-zA-Z][\w-]*$/.test(text)) return (e) => slotOf(e).tag === text.toLowerCase();
    if (/^#[\w-]+$/.test(text)) return (e) => slotOf(e).attrs.get("id") === text.slice(1);
    if (/^\.[\w-]+$/.test(text)) {
      return (e) => (slotOf(e).attrs.get("class") || "").split(/\s+/).includes(text.slice(1));
    }
    if (text === "*") return () => true;
    return () => false;
  }
  const queries = {
    querySelector(selector) { return descendants(this).find(matcher(selector)) || null; },
    querySelectorAll(selector) { return listOf(NodeList, descendants(this).filter(matcher(selector))); },
    getElementsByTagName(name) { return listOf(HTMLCollection, descendants(this).filter(matcher(name === "*" ? "*" : String(name).replace(/[^\w-]/g, "") || "-"))); },
    getElementsByClassName(name) { return listOf(HTMLCollection, descendants(this).filter(matcher("." + String(name).trim().split(/\s+/)[0]))); },
  };

  class Element extends Node {
    constructor() { super(); illegal(); }
    get tagName() { return slotOf(this).tag.toUpperCase(); }
    get localName() { return slotOf(this).tag; }
    get id() { return slotOf(this).attrs.get("id") || ""; }
    set id(value) { this.setAttribute("id", value); }
    get className() { return slotOf(this).attrs.get("class") || ""; }
    set className(value) { this.setAttribute("class", value); }
    get children() { return listOf(HTMLCollection, slotOf(this).children.filter((c) => slotOf(c).nodeType === 1)); }
    get innerHTML() { return slotOf(this).html; }
    set innerHTML(value) {
      const s = slotOf(this);
      for (const child of s.children.splice(0)) slotOf(child).parent = null;
      s.html = String(value);
    }
    getAttribute(name) { const v = slotOf(this).attrs.get(String(name).toLowerCase()); return v === undefined ? null : v; }
    setAttribute(name, value) {
      if (arguments.length < 2) {
        throw new TypeError("Failed to execute 'setAttribute' on 'Element': 2 arguments required, but only "
          + arguments.length + " present.");
      }
      const key = String(name).toLowerCase();
      slotOf(this).attrs.set(key, String(value));
      const hook = slotOf(this).onAttribute;
      if (hook) hook(this, key, String(value));
    }
    hasAttribute(name) { return slotOf(this).attrs.has(String(name).toLowerCase()); }
    removeAttribute(name) { slotOf(this).attrs.delete(String(name).toLowerCase()); }
    getAttributeNames() { return [...slotOf(this).attrs.keys()]; }
    getBoundingClientRect() {
      return { x: 0, y: 0, width: 0, height: 0, top: 0, right: 0, bottom: 0, left: 0 };
    }
    remove() { const p = slotOf(this).parent; if (p) p.removeChild(this); }
    append(...nodes) { for (const n of nodes) this.appendChild(typeof n === "string" ? document.createTextNode(n) : n); }
  }
  Object.assign(Element.prototype, queries);
  N.finishInterface(Element, "Element", 0);

  const styles = new WeakMap();
  class CSSStyleDeclaration {
    constructor() { illegal(); }
    get cssText() { const m = styles.get(this); return [...m].map(([k, v]) => `${k}: ${v};`).join(" "); }
    set cssText(value) {
      const m = styles.get(this);
      m.clear();
      for (const part of String(value).split(";")) {
        const at = part.indexOf(":");
        if (at > 0) m.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim());
      }
    }
    get length() { return styles.get(this).size; }
    getPropertyValue(name) { return styles.get(this).get(String(name)) || ""; }
    setProperty(name, value) { if (value == null || value === "") styles.get(this).delete(String(name)); else styles.get(this).set(String(name), String(value)); }
    removeProperty(name) { const old = this.getPropertyValue(name); styles.get(this).delete(String(name)); return old; }
  }
  N.finishInterface(CSSStyleDeclaration, "CSSStyleDeclaration", 0);
  // style.fontSize = "1px" works as a browser's camelCase property (no validation, no layout).
  const kebab = (key) => key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
  const newStyle = () => {
    const target = Object.create(CSSStyleDeclaration.prototype);
    styles.set(target, new Map());
    const proxy = new Proxy(target, {
      get: (t, key, receiver) => (typeof key !== "string" || key in t ? Reflect.get(t, key, receiver)
        : styles.get(t).get(kebab(key)) || ""),
      set: (t, key, value, receiver) => {
        if (typeof key !== "string" || key in t) return Reflect.set(t, key, value, receiver);
        t.setProperty(kebab(key), value);
        return true;
      },
    });
    styles.set(proxy, styles.get(target));
    return proxy;
  };
  class DOMStringMap { constructor() { illegal(); } }
  N.finishInterface(DOMStringMap, "DOMStringMap", 0);

  class HTMLElement extends Element {
    constructor() { super(); illegal(); }
    get style() { const s = slotOf(this); return s.style || (s.style = newStyle()); }
    get dataset() { const s = slotOf(this); return s.dataset || (s.dataset = Object.create(DOMStringMap.prototype)); }
    get hidden() { return this.hasAttribute("hidden"); }
    set hidden(value) { if (value) this.setAttribute("hidden", ""); else this.removeAttribute("hidden"); }
    get title() { return this.getAttribute("title") || ""; }
    set title(value) { this.setAttribute("title", value); }
    get innerText() { return slotOf(this).text; }
    set innerText(value) { slotOf(this).text = String(value); }
    get offsetWidth() { return 0; }
    get offsetHeight() { return 0; }
    get offsetTop() { return 0; }
    get offsetLeft() { return 0; }
    get offsetParent() { return null; }
    click() {}
    focus() {}
    blur() {}
  }
  N.finishInterface(HTMLElement, "HTMLElement", 0);
  N.defineHandlers(HTMLElement.prototype, ["load", "error", "click", "focus", "blur"]);

  // Element classes per tag: `[tag, Class name, "prop:attribute:default ..." reflected strings]`.
  const classes = new Map();
  const reflect = (proto, spec) => {
    for (const item of spec ? spec.split(" ") : []) {
      const [prop, attr, fallback] = item.split(":");
      const desc = Object.getOwnPropertyDescriptor({
        get [prop]() { const v = this.getAttribute(attr); return v === null ? (fallback || "") : v; },
        set [prop](value) { this.setAttribute(attr, value); },
      }, prop);
      Object.defineProperty(proto, prop, { ...desc, enumerable: true, configurable: true });
    }
  };
  const TAGS = [
    ["html", "HTMLHtmlElement"], ["head", "HTMLHeadElement"], ["body", "HTMLBodyElement"], ["div", "HTMLDivElement"],
    ["span", "HTMLSpanElement"], ["p", "HTMLParagraphElement"], ["a", "HTMLAnchorElement", "href:href"],
    ["script", "HTMLScriptElement", "src:src type:type"], ["style", "HTMLStyleElement"],
    ["link", "HTMLLinkElement", "href:href rel:rel"], ["meta", "HTMLMetaElement", "name:name content:content"],
    ["iframe", "HTMLIFrameElement", "src:src"], ["input", "HTMLInputElement", "type:type:text name:name"],
    ["canvas", "HTMLCanvasElement"], ["img", "HTMLImageElement", "alt:alt"], ["title", "HTMLTitleElement"],
  ];
  for (const [tag, name, spec] of TAGS) {
    const Ctor = { [name]: class extends HTMLElement { constructor() { super(); illegal(); } } }[name];
    reflect(Ctor.prototype, spec);
    classes.set(tag, Ctor);
  }
  class HTMLUnknownElement extends HTMLElement { constructor() { super(); illegal(); } }
  N.finishInterface(HTMLUnknownElement, "HTMLUnknownElement", 0);

  // canvas: no 2D/WebGL here (getContext resolves nothing: a page without canvas support).
  const Canvas = classes.get("canvas").prototype;
  const numberAttr = (proto, prop, fallback) => Object.defineProperty(proto, prop, { enumerable: true, configurable: true,
    ...Object.getOwnPropertyDescriptor({
      get [prop]() { const v = Number.parseInt(this.getAttribute(prop), 10); return v >= 0 ? v : fallback; },
      set [prop](value) { this.setAttribute(prop, String(Number(value) >>> 0)); },
    }, prop) });
  numberAttr(Canvas, "width", 300);
  numberAttr(Canvas, "height", 150);
  Object.assign(Canvas, { getContext() { return null; }, toDataURL() { return "data:,"; } });
  for (const key of ["getContext", "toDataURL"]) Object.defineProperty(Canvas, key, { enumerable: true });

  // img: setting src loads it (page.load records the request and fires load/error).
  const Img = classes.get("img").prototype;
  Object.defineProperty(Img, "src", { enumerable: true, configurable: true,
    ...Object.getOwnPropertyDescriptor({
      get src() { const v = this.getAttribute("src"); return v === null ? "" : page.resolve(v) || v; },
      set src(value) { this.setAttribute("src", value); },
    }, "src") });
  numberAttr(Img, "width", 0);
  numberAttr(Img, "height", 0);
  Object.defineProperty(Img, "complete", { enumerable: true, configurable: true,
    get: Object.getOwnPropertyDescriptor({ get complete() { return slotOf(this).loaded !== false; } }, "complete").get });
  for (const [tag, name] of TAGS) N.finishInterface(classes.get(tag), name, 0);

  function createElement(tagName) {
    const tag = String(tagName).toLowerCase();
    if (!/^[a-z][^\s\0\t\n\f\r/>]*$/.test(tag)) {
      throw N.domException("InvalidCharacterError",
        `Failed to execute 'createElement' on 'Document': The tag name provided ('${tagName}') is not a valid name.`);
    }
    const Ctor = classes.get(tag) || (tag.includes("-") ? HTMLElement : HTMLUnknownElement);
    const slot = { nodeType: 1, tag, parent: null, children: [], attrs: new Map(), text: "", html: "" };
    if (tag === "img") {
      slot.onAttribute = (el, key, value) => {
        if (key !== "src") return;
        slot.loaded = false;
        page.load("image", el, value, () => { slot.loaded = true; });
      };
    } else if (tag === "script" || tag === "iframe") {
      // HTML "prepare the script element": a connected script with a src or some text has
      // started (a src set later is not fetched); a connected iframe loads each src it is given.
      const load = (el) => {
        const src = slot.attrs.get("src");
        if (!el.isConnected || slot.started || (src === undefined && (tag === "iframe" || slot.text === ""))) return;
        if (tag === "script") slot.started = true;
        if (src !== undefined) page.load(tag, el, src, () => {});
      };
      slot.onConnect = load;
      slot.onAttribute = (el, key) => { if (key === "src") load(el); };
    }
    return make(Ctor, slot);
  }

  class CharacterData extends Node { constructor() { super(); illegal(); } get data() { return slotOf(this).text; } }
  N.finishInterface(CharacterData, "CharacterData", 0);
  class Text extends CharacterData { constructor() { super(); illegal(); } }
  N.finishInterface(Text, "Text", 0);

  // --- the document -------------------------------------------------------------------------
  class Document extends Node {
    constructor() { super(); illegal(); }
    get URL() { return page.href(); }
    get documentURI() { return page.href(); }
    get location() { return page.location; }
    get domain() { return new global.URL(page.href()).hostname; }
    get referrer() { return ""; }
    get cookie() { return page.cookies.read(); }
    set cookie(value) { page.cookies.write(String(value)); }
    get lastModified() { return page.lastModified(); }
    get readyState() { return "complete"; }
    get title() { return slotOf(this).title; }
    set title(value) { slotOf(this).title = String(value).replace(/\s+/g, " ").trim(); }
    get characterSet() { return "UTF-8"; }
    get charset() { return "UTF-8"; }
    get inputEncoding() { return "UTF-8"; }
    get contentType() { return "text/html"; }
    get compatMode() { return "CSS1Compat"; }
    get documentElement() { return slotOf(this).children[0] || null; }
    get head() { return slotOf(this).head; }
    get body() { return slotOf(this).body; }
    get currentScript() { return null; }
    get defaultView() { return global; }
    get activeElement() { return slotOf(this).body; }
    get hidden() { return false; }
    get visibilityState() { return "visible"; }
    get children() { return listOf(HTMLCollection, slotOf(this).children.slice()); }
    get scripts() { return this.getElementsByTagName("script"); }
    get images() { return this.getElementsByTagName("img"); }
    get forms() { return this.getElementsByTagName("form"); }
    hasFocus() { return true; }
    createElement(tagName) { return createElement(tagName); }
    createElementNS(namespace, qualifiedName) { return createElement(qualifiedName); }
    createTextNode(data) {
      return make(Text, { nodeType: 3, nodeName: "#text", parent: null, children: [], text: String(data) });
    }
    createDocumentFragment() {
      return make(DocumentFragment, { nodeType: 11, nodeName: "#document-fragment", parent: null, children: [], text: "" });
    }
    getElementById(id) { return descendants(this).find(matcher("#" + String(id).replace(/[^\w-]/g, ""))) || null; }
  }
  Object.assign(Document.prototype, queries);
  N.finishInterface(Document, "Document", 0);
  N.defineHandlers(Document.prototype, ["readystatechange", "visibilitychange", "click", "load", "error"]);
  class HTMLDocument extends Document { constructor() { super(); illegal(); } }
  N.finishInterface(HTMLDocument, "HTMLDocument", 0);
  class DocumentFragment extends Node { constructor() { super(); illegal(); } }
  Object.assign(DocumentFragment.prototype, queries);
  N.finishInterface(DocumentFragment, "DocumentFragment", 0);

  const document = make(HTMLDocument, { nodeType: 9, nodeName: "#document", parent: null, children: [], title: "" });
  const html = createElement("html");
  const head = createElement("head");
  const body = createElement("body");
  Object.assign(slotOf(document), { head, body });
  document.appendChild(html);
  html.appendChild(head);
  html.appendChild(body);

  const interfaces = { Node, Element, HTMLElement, HTMLUnknownElement, CharacterData, Text, Document, HTMLDocument,
    DocumentFragment, NodeList, HTMLCollection, CSSStyleDeclaration, DOMStringMap };
  for (const [, name] of TAGS) interfaces[name] = classes.get(TAGS.find((t) => t[1] === name)[0]);

  // new Image(width, height): an <img>, as the legacy factory makes it.
  const Image = N.markNative({ Image: function Image(width, height) {
    if (!new.target) {
      throw new TypeError("Failed to construct 'Image': Please use the 'new' operator, this DOM object constructor "
        + "cannot be called as a function.");
    }
    const img = createElement("img");
    if (width !== undefined) img.width = width;
    if (height !== undefined) img.height = height;
    return img;
  } }.Image, "Image");
  Object.defineProperty(Image, "prototype", { value: classes.get("img").prototype });
  Object.defineProperty(Image, "length", { value: 0 });
  interfaces.Image = Image;
  // getComputedStyle(el): no cascade or layout here: the element's inline declarations, read-only.
  function computedStyle(element) {
    if (!slots.has(element) || slotOf(element).nodeType !== 1) {
      throw new TypeError("Failed to execute 'getComputedStyle' on 'Window': parameter 1 is not of type 'Element'.");
    }
    const copy = newStyle();
    copy.cssText = element.style.cssText;
    return copy;
  }
  return { document, interfaces, computedStyle };
}
