// The JavaScript half of playground.cc and fleet.cc (linked with --js-library).
mergeInto(LibraryManager.library, {
  volo_playground_emit: function(stream, data, n, seq, channel) {
    const text = UTF8ToString(data, n);
    const name = channel ? UTF8ToString(channel) : "";
    if (name) {
      // Any thread (each a Web Worker with its own JavaScript): straight to the page.
      const open = self.voloOutputChannels || (self.voloOutputChannels = {});
      const ch = open[name] || (open[name] = new BroadcastChannel(name));
      ch.postMessage({seq: seq, stream: stream, text: text});
    } else if (Module.onOutput) {
      Module.onOutput(stream, text);
    }
  },

  // fleet.cc's calls go to Module.fleetClient (the Web Worker's Fleet, worker.ts), which
  // answers "ok\n..." or "error\n..." as a JavaScript string; it is handed back in malloc'd
  // memory that fleet.cc frees. A client that throws answers its error.
  $voloFleetCall: function(call) {
    let text;
    try {
      if (!Module.fleetClient) throw new Error("this page has no fleet to run on");
      text = call(Module.fleetClient);
    } catch (e) {
      text = "error\n" + (e && e.message ? e.message : String(e));
    }
    const n = lengthBytesUTF8(text) + 1;
    const p = _malloc(n);
    stringToUTF8(text, p, n);
    return p;
  },
  volo_fleet_slots__deps: ["$voloFleetCall"],
  volo_fleet_slots: function() {
    return voloFleetCall((c) => c.slots());
  },
  volo_fleet_put_blob__deps: ["$voloFleetCall"],
  volo_fleet_put_blob: function(hash, data, n) {
    return voloFleetCall((c) => c.putBlob(UTF8ToString(hash), HEAPU8.slice(data, data + n)));
  },
  volo_fleet_submit__deps: ["$voloFleetCall"],
  volo_fleet_submit: function(body, n) {
    return voloFleetCall((c) => c.submit(UTF8ToString(body, n)));
  },
  volo_fleet_wait__deps: ["$voloFleetCall"],
  volo_fleet_wait: function(ids, timeout) {
    return voloFleetCall((c) => c.wait(UTF8ToString(ids), timeout));
  },
  volo_fleet_cancel__deps: ["$voloFleetCall"],
  volo_fleet_cancel: function(ids) {
    _free(voloFleetCall((c) => c.cancel(UTF8ToString(ids))));
  },
});
