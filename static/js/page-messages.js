// Django's messages on the room page ("You have joined …"): the template
// hands them here instead of rendering them above the page, where they would
// push the call's toolbar out of the window. They show as toasts.

import { toast } from "./ui/dom.js";

const list = document.getElementById("page-messages");
for (const item of list ? [...list.children] : []) {
  const kind = item.dataset.level === "error" || item.dataset.level === "warning" ? "warn" : "info";
  toast(item.textContent, { kind, timeout: 8000 });
}
list?.remove();
