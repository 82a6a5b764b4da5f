// The JavaScript half of fleet_env.cc (linked with --js-library). The protocol itself lives in
// the page's worker (src/fleet.ts, Module.fleet); this only suspends the program (Asyncify, in
// the fly_fleet build) until that fleet run has completed every instance of the job.
mergeInto(LibraryManager.library, {
  volo_fleet_slots: function() {
    return Module.fleet ? Module.fleet.slots : 0;
  },
  volo_fleet_run: function(job, jobJson) {
    const text = UTF8ToString(jobJson);
    return Asyncify.handleSleep(function(wakeUp) {
      Module.fleet.run(job, text).then(wakeUp, function(e) {
        Module.fleet.failAll(job, text, String(e && e.message ? e.message : e));
        wakeUp();
      });
    });
  },
});
