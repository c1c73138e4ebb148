// Load the vendored htmx when the CDN copy did not load (offline schools, tests).
// document.write keeps it synchronous, so htmx is ready before the page finishes parsing.
(function () {
  if (window.htmx) return;
  var me = document.currentScript;
  document.write('<script src="' + me.getAttribute("data-src") + '"><\/script>');
})();
