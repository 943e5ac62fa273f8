/* Confirmations (templates/_confirm.html): a button's GET form data-confirm="DIALOG_ID" would open the
 * confirm page; with this script it opens that <dialog> instead, which holds the same words and the
 * POST form. Cancel closes it (formmethod=dialog) and changes nothing. No inline script: CSP. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-confirm]")) { return; }
    var dialog = document.getElementById(form.dataset.confirm);
    if (!dialog || typeof dialog.showModal !== "function") { return; }  // no <dialog>: the confirm page
    event.preventDefault();
    dialog.showModal();
    var cancel = dialog.querySelector("[data-confirm-cancel]");
    if (cancel) { cancel.focus(); }  // the safe choice has the focus, as on a native confirm
  });
}());
