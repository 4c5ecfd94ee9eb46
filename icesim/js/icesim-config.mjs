// icesim RTCConfiguration checks: what the RTCPeerConnection constructor (and setConfiguration)
// reject, with each browser's exception and text (capture: the API captures,
// `badInput` in tests/data/{chromium156,firefox}/api/stun.json).
//
// Self-contained like the other icesim-*.mjs parts.

export function icesimConfiguration(global, familyName, domException) {
  const { TypeError, String, Number, Symbol, Array } = global;
  const firefox = familyName === "firefox";
  const ENUMS = {
    iceTransportPolicy: ["RTCIceTransportPolicy", ["relay", "all"]],
    bundlePolicy: ["RTCBundlePolicy", ["balanced", "max-compat", "max-bundle"]],
    rtcpMuxPolicy: ["RTCRtcpMuxPolicy", ["negotiate", "require"]],
  };
  const chromeText = {
    notDict: () => "The provided value is not of type 'RTCConfiguration'.",
    notSequence: (member) => "Failed to read the '" + member + "' property from 'RTCConfiguration': The provided "
      + "value cannot be converted to a sequence.",
    serverNotDict: () => "Failed to read the 'iceServers' property from 'RTCConfiguration': The provided value "
      + "is not of type 'RTCIceServer'.",
    urlsMissing: () => "Malformed RTCIceServer",
    emptyList: () => "ICE server parsing failed: Empty uri.",
    emptyUrl: (url) => "'" + url + "' is not a valid URL.",
    badScheme: (url) => "'" + url + "' is not a valid stun or turn URL.",
    stunQuery: (url) => "'" + url + "' is not a valid stun or turn URL.",
    badTransport: () => "ICE server parsing failed: Transport parameter should always be udp or tcp.",
    noHost: () => "ICE server parsing failed: Invalid transport parameter in ICE URI",
    badPort: () => "ICE server parsing failed: Invalid port",
    turnNoUser: () => "Both username and credential are required when the URL scheme is \"turn\" or \"turns\".",
    turnNoCredential: () => "Both username and credential are required when the URL scheme is \"turn\" or \"turns\".",
    turnEmpty: () => "ICE server parsing failed: TURN server with empty username or password", // capture H4
    badEnum: (member, value, type) => "Failed to read the '" + member + "' property from 'RTCConfiguration': "
      + "The provided value '" + value + "' is not a valid enum value of type " + type + ".",
    poolRange: () => "Failed to read the 'iceCandidatePoolSize' property from 'RTCConfiguration': Value is "
      + "outside the 'octet' value range.",
    notCertificate: () => "Failed to read the 'certificates' property from 'RTCConfiguration': Failed to "
      + "convert value to 'RTCCertificate'.",
  };
  const firefoxText = {
    notDict: () => "Argument 1 can't be converted to a dictionary.",
    notSequence: (member) => "'" + member + "' member of RTCConfiguration can't be converted to a sequence.",
    serverNotDict: () => "Element of 'iceServers' member of RTCConfiguration can't be converted to a dictionary.",
    urlsMissing: () => "Missing required 'urls' member of RTCIceServer",
    emptyList: () => "ICE server has empty urls list",
    emptyUrl: () => "ICE server URL is empty",
    badScheme: (url, scheme) => "'" + url + "' has unsupported scheme '" + scheme
      + "' (must be stun/stuns/turn/turns)",
    stunQuery: (url) => "'" + url + "': STUN URLs must not have query parameters",
    badTransport: (url, transport) => "'" + url + "' has disallowed transport '" + transport + "' (must be udp or tcp)",
    noHost: (url) => "'" + url + "' must have a host",
    badPort: (url) => "'" + url + "' does not contain a host and optional port",
    turnNoUser: () => "TURN server requires a username",
    turnNoCredential: () => "TURN server requires a credential",
    turnEmpty: () => "TURN server requires a username", // guess
    badEnum: (member, value, type) => "'" + value + "' (value of '" + member + "' member of RTCConfiguration) is "
      + "not a valid value for enumeration " + type + ".",
    notCertificate: () => "Element of 'certificates' member of RTCConfiguration is not an object.",
  };
  const text = firefox ? firefoxText : chromeText;

  // Chromium prefixes every text with the operation; Gecko prefixes WebIDL conversion errors
  // with "RTCPeerConnection constructor: " and URL errors with "PeerConnectionImpl.setConfiguration: ".
  function fail(kind, make, operation, stage) {
    let message = make;
    if (!firefox) message = operation + ": " + make;
    else if (stage === "webidl") message = operation + ": " + make;
    else if (stage === "url") message = "PeerConnectionImpl.setConfiguration: " + make;
    return kind === "TypeError" ? new TypeError(message) : domException(kind, message);
  }
  const isIterable = (v) => v !== null && typeof v === "object" && typeof v[Symbol.iterator] === "function";

  /** { config, servers } for a valid configuration; throws as the browser does otherwise. */
  function validate(configuration, operation) {
    const op = firefox ? "RTCPeerConnection constructor" : operation;
    if (configuration === undefined || configuration === null) return { config: {}, servers: [] };
    if (typeof configuration !== "object" && typeof configuration !== "function") {
      throw fail("TypeError", text.notDict(), op, "webidl");
    }
    const config = configuration;
    const rawServers = config.iceServers;
    const servers = [];
    if (rawServers !== undefined) {
      if (!isIterable(rawServers)) throw fail("TypeError", text.notSequence("iceServers"), op, "webidl");
      for (const server of rawServers) {
        if (server === null || typeof server !== "object") throw fail("TypeError", text.serverNotDict(), op, "webidl");
        const urls = server.urls !== undefined ? server.urls : server.url; // the legacy `url` key still works
        if (urls === undefined) {
          throw fail("TypeError", text.urlsMissing(), op, firefox ? "bare" : "webidl");
        }
        servers.push({ urls: typeof urls === "string" ? [urls] : Array.from(urls, String),
          url: server.url, username: server.username, credential: server.credential });
      }
    }
    for (const [member, [type, values]] of Object.entries(ENUMS)) {
      const value = config[member];
      if (value !== undefined && !values.includes(String(value))) {
        throw fail("TypeError", text.badEnum(member, String(value), type), op, "webidl");
      }
    }
    if (!firefox && config.iceCandidatePoolSize !== undefined) {
      const size = Number(config.iceCandidatePoolSize);
      if (!(size >= 0 && size <= 255)) throw fail("TypeError", text.poolRange(), op, "webidl");
    }
    if (config.certificates !== undefined) {
      if (!isIterable(config.certificates)) throw fail("TypeError", text.notSequence("certificates"), op, "webidl");
      for (const certificate of config.certificates) {
        if (certificate === null || typeof certificate !== "object" || !firefox) {
          throw fail("TypeError", text.notCertificate(), op, "webidl");
        }
      }
    }
    for (const server of servers) checkUrls(server, op);
    return { config, servers };
  }

  function checkUrls(server, op) {
    if (!server.urls.length) throw fail("SyntaxError", text.emptyList(), op, "url");
    for (const url of server.urls) {
      if (url === "") throw fail("SyntaxError", text.emptyUrl(url), op, "url");
      const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url);
      const name = scheme ? scheme[1].toLowerCase() : "";
      if (!["stun", "stuns", "turn", "turns"].includes(name)) {
        throw fail("SyntaxError", text.badScheme(url, scheme ? scheme[1] : url), op, "url");
      }
      const rest = url.slice(scheme[0].length);
      const [hostPort, query] = rest.split("?");
      if (query !== undefined && name.startsWith("stun")) throw fail("SyntaxError", text.stunQuery(url), op, "url");
      if (query !== undefined) {
        const transport = /^transport=(.*)$/.exec(query);
        if (!transport || !["udp", "tcp"].includes(transport[1])) {
          throw fail("SyntaxError", text.badTransport(url, transport ? transport[1] : query), op, "url");
        }
      }
      if (!hostPort) throw fail("SyntaxError", text.noHost(url), op, "url");
      const port = /:(\d+)$/.exec(hostPort);
      if (port && Number(port[1]) > 65535) throw fail("SyntaxError", text.badPort(url), op, "url");
      if (name.startsWith("turn")) {
        if (server.username === undefined) throw fail("InvalidAccessError", text.turnNoUser(), op, "url");
        if (server.credential === undefined) throw fail("InvalidAccessError", text.turnNoCredential(), op, "url");
        if (server.username === "" || server.credential === "") {
          throw fail("InvalidAccessError", text.turnEmpty(), op, "url");
        }
      }
    }
  }
  return validate;
}
