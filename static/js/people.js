// People page: "select this page" and the "select all N matching" banner (as Satchel One).
// Without JavaScript the "Every one of the N matching" checkbox does the same.
(function () {
  function rows(form) { return form.querySelectorAll("input.select-row"); }

  function refresh(form) {
    var boxes = rows(form), checked = 0;
    boxes.forEach(function (b) { if (b.checked) checked++; });
    var page = form.querySelector("#select-page");
    if (page) page.checked = boxes.length > 0 && checked === boxes.length;
    var banner = form.querySelector("#select-all-banner");
    var total = parseInt(form.dataset.total, 10);
    if (banner) banner.hidden = !(page && page.checked && total > boxes.length);
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest("#people-bulk");
    if (!form) return;
    if (event.target.id === "select-page") {
      rows(form).forEach(function (b) { b.checked = event.target.checked; });
      if (!event.target.checked) form.querySelector("#all-matching").checked = false;
    }
    refresh(form);
  });

  document.addEventListener("click", function (event) {
    if (event.target.id !== "select-all-matching") return;
    var form = event.target.closest("#people-bulk");
    var all = form.querySelector("#all-matching");
    all.checked = true;
    all.focus();
    form.querySelector("#select-all-banner").hidden = true;
  });
})();
