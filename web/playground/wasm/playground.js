// The JavaScript half of playground.cc (linked with --js-library).
mergeInto(LibraryManager.library, {
  volo_playground_emit: function(stream, data, n) {
    const text = UTF8ToString(data, n);
    if (Module.onOutput) Module.onOutput(stream, text);
  },
});
