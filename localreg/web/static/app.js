// localreg web UI: dialogs, the dropdowns of "Link new version" and the
// two steps of "Link to registry". Everything else is plain HTML forms.
"use strict";

const enc = encodeURIComponent;

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error((data.error && data.error.message) || `${response.status} ${response.statusText}`);
  }
  return data;
}

// Every item of a paged listing (the API answers {items, cursor}).
async function getAll(url) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < 50; page++) {
    const sep = url.includes("?") ? "&" : "?";
    const data = await getJSON(cursor ? `${url}${sep}cursor=${enc(cursor)}` : url);
    items.push(...data.items);
    cursor = data.cursor;
    if (!cursor) break;
  }
  return items;
}

function setOptions(select, placeholder, options) {
  select.replaceChildren(new Option(placeholder, ""));
  for (const [value, label] of options) select.add(new Option(label, value));
}

function showError(form, message) {
  let box = form.querySelector(".js-error");
  if (!box) {
    box = document.createElement("p");
    box.className = "alert error js-error";
    box.setAttribute("role", "alert");
    form.querySelector(".field, label, section").before(box);
  }
  box.textContent = message;
  box.hidden = !message;
}

// -- "Link new version": Team -> Project -> Artifact -> Version --------------------

const KINDS = {
  team: { noun: "team", option: (t) => [t, t] },
  project: { noun: "project", option: (p) => [p.name, p.name] },
  artifact: { noun: "artifact", option: (c) => [c.name, `${c.name} (${c.version_count} version${c.version_count === 1 ? "" : "s"})`] },
  version: { noun: "version", option: (v) => [v.version, v.aliases.length ? `${v.version} · ${v.aliases.join(", ")}` : v.version] },
};

function initCascade(form) {
  if (form.dataset.ready) return;
  form.dataset.ready = "1";
  const selects = [...form.querySelectorAll("select[data-options]")];

  function urlFor(select) {
    let missing = false;
    const url = select.dataset.options.replace(/\{(\w+)\}/g, (_, name) => {
      const value = form.elements[name].value;
      if (!value) missing = true;
      return enc(value);
    });
    return missing ? null : url;
  }

  function waiting(from) {
    for (let j = from; j < selects.length; j++) {
      const before = KINDS[selects[j - 1].dataset.kind].noun;
      setOptions(selects[j], `Choose a ${before} first`, []);
      selects[j].disabled = true;
    }
  }

  async function fill(i) {
    const select = selects[i];
    const kind = KINDS[select.dataset.kind];
    const generation = (select._generation = (select._generation || 0) + 1);
    if (i + 1 < selects.length) waiting(i + 1);
    const url = urlFor(select);
    if (!url) return;
    setOptions(select, "Loading…", []);
    select.disabled = true;
    let items;
    try {
      items = await getAll(url);
    } catch (error) {
      showError(form, `Could not load the ${kind.noun}s: ${error.message}`);
      return;
    }
    if (generation !== select._generation) return; // a newer choice upstream took over
    showError(form, "");
    const options = items.map(kind.option);
    setOptions(select, options.length ? `Select a ${kind.noun}` : `No ${kind.noun}s here`, options);
    select.disabled = options.length === 0;
    const wanted = select.dataset.value;
    select.dataset.value = ""; // a value chosen before an error applies once
    if (wanted && options.some(([value]) => value === wanted)) select.value = wanted;
    else if (options.length === 1) select.value = options[0][0];
    if (select.value && i + 1 < selects.length) await fill(i + 1);
  }

  selects.forEach((select, i) => {
    select.addEventListener("change", () => {
      if (i + 1 < selects.length) {
        if (select.value) fill(i + 1);
        else waiting(i + 1);
      }
    });
  });
  fill(0);
}

// -- "Link to registry": registry + collection, Next step, aliases --------------------

function initWizard(form) {
  if (form.dataset.ready) return;
  form.dataset.ready = "1";
  const registry = form.elements.registry;
  const collection = form.elements.collection;
  const newBox = form.querySelector(".new-collection");
  const newName = form.elements.new_collection;
  const [step1, step2] = form.querySelectorAll("[data-step]");
  const problem = form.querySelector(".wizard-error");
  let generation = 0;

  function toggleNew() {
    newBox.hidden = collection.value !== "__new__";
  }

  async function loadCollections() {
    const mine = ++generation;
    const [org, ...rest] = registry.value.split("/");
    const name = rest.join("/");
    if (!registry.value) {
      setOptions(collection, "Select a registry first", []);
      collection.disabled = true;
      toggleNew();
      return;
    }
    setOptions(collection, "Loading…", []);
    collection.disabled = true;
    let items;
    try {
      items = await getAll(`/api/orgs/${enc(org)}/registries/${enc(name)}/collections?type=${enc(form.dataset.type)}&limit=500`);
    } catch (error) {
      showError(form, `Could not load the collections: ${error.message}`);
      return;
    }
    if (mine !== generation) return;
    showError(form, "");
    const options = items.map((c) => [c.name, `${c.name} (${c.version_count} linked)`]);
    options.push(["__new__", "+ New collection…"]);
    setOptions(collection, items.length ? "Select a collection" : "No collections of this type yet", options);
    collection.disabled = false;
    const wanted = collection.dataset.value;
    collection.dataset.value = "";
    if (wanted && options.some(([value]) => value === wanted)) collection.value = wanted;
    toggleNew();
  }

  function target() {
    if (!registry.value) return [null, "Choose a registry."];
    if (!collection.value) return [null, "Choose a collection, or create a new one."];
    const name = collection.value === "__new__" ? newName.value.trim() : collection.value;
    if (!name) return [null, "Type a name for the new collection."];
    const [org, ...rest] = registry.value.split("/");
    return [`${org}/wandb-registry-${rest.join("/")}/${name}`, null];
  }

  function next() {
    const [path, message] = target();
    problem.textContent = message || "";
    problem.hidden = !message;
    if (!path) return;
    form.querySelector(".target-preview").textContent = path;
    step1.hidden = true;
    step2.hidden = false;
    form.elements.aliases.focus();
  }

  registry.addEventListener("change", loadCollections);
  collection.addEventListener("change", toggleNew);
  form.querySelector("[data-next]").addEventListener("click", next);
  form.querySelector("[data-back]").addEventListener("click", () => {
    step2.hidden = true;
    step1.hidden = false;
  });
  step1.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.tagName === "INPUT") {
      event.preventDefault(); // Enter on step 1 means "Next step", not "link now"
      next();
    }
  });
  if (registry.dataset.value) {
    registry.value = registry.dataset.value;
    registry.dataset.value = "";
    loadCollections();
  }
}

// -- dialogs and menus --------------------------------------------------------------

function openDialog(dialog) {
  if (!dialog.open) dialog.showModal();
  for (const form of dialog.querySelectorAll("form[data-cascade]")) initCascade(form);
  for (const form of dialog.querySelectorAll("form[data-link-wizard]")) initWizard(form);
}

document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-open]");
  if (opener) {
    const menu = opener.closest("details.menu");
    if (menu) menu.open = false;
    openDialog(document.getElementById(opener.dataset.open));
    return;
  }
  const closer = event.target.closest("[data-close]");
  if (closer) {
    closer.closest("dialog").close();
    return;
  }
  if (event.target.tagName === "DIALOG") event.target.close(); // a click on the backdrop
  for (const menu of document.querySelectorAll("details.menu[open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});

// typing accepted types means "only these types"
document.addEventListener("input", (event) => {
  if (event.target.name !== "artifact_types") return;
  const only = event.target.form.querySelector('input[name="types_mode"][value="list"]');
  if (only && event.target.value.trim()) only.checked = true;
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    for (const menu of document.querySelectorAll("details.menu[open]")) menu.open = false;
  }
});

for (const dialog of document.querySelectorAll("dialog[data-open-on-load]")) openDialog(dialog);
