// The login page: POST /api/login as JSON, show the server's error text, go to `/` on success.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  const button = document.getElementById("login-submit");

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    button.disabled = true;
    try {
      const res = await fetch("/api/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify({
          user: form.elements.user.value,
          password: form.elements.password.value,
        }),
      });
      if (res.ok) {
        location.href = "/";
        return;
      }
      let message = `login failed (HTTP ${res.status})`;
      try {
        const body = await res.json();
        if (body && typeof body.error === "string") message = body.error;
      } catch (_) {
        // not JSON: keep the status line
      }
      showError(message);
    } catch (e) {
      showError(`cannot reach the server: ${e.message}`);
    } finally {
      button.disabled = false;
    }
  });
});
