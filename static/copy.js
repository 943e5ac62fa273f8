// Copy buttons: <button data-copy="#selector"> copies the value of that field. No inline script (CSP).
// "Copied" is also said in a polite live region made at load, so a screen reader announces it.
var copyStatus = document.createElement("span");
copyStatus.className = "visually-hidden";
copyStatus.setAttribute("role", "status");
copyStatus.setAttribute("aria-live", "polite");
document.addEventListener("DOMContentLoaded", function () { document.body.appendChild(copyStatus); });
if (document.readyState !== "loading") { document.body.appendChild(copyStatus); }
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var field = document.querySelector(button.getAttribute("data-copy"));
  if (!field) return;
  field.select();
  var done = function () {
    var label = button.textContent;
    button.textContent = "Copied";
    copyStatus.textContent = "";
    setTimeout(function () { copyStatus.textContent = "Copied to the clipboard"; }, 50);
    setTimeout(function () { button.textContent = label; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});
