// Behaviour the templates would otherwise write inline (the Content-Security-Policy allows
// scripts from this site only, no inline handlers): a form marked data-reset-on-success
// is cleared after htmx posted it successfully.
document.addEventListener("htmx:afterRequest", function (event) {
  var form = event.target;
  if (form && form.matches && form.matches("form[data-reset-on-success]") && event.detail.successful) {
    form.reset();
  }
});
