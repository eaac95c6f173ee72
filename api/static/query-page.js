// The query page: YASGUI on this server's /sparql, with nothing fetched from elsewhere.
// - the endpoint is fixed to /sparql, no CORS proxy, no endpoint catalogue of remote services;
// - the Linked Open Vocabularies autocompleters (a remote API) are replaced by one over the
//   ontology's own terms (/query/terms.json); variables and prefixes complete locally;
// - the competency questions (/query/examples.json) open as tabs;
// - IRIs under this graph's base in result tables link to their pages here (/id/..., /ontology#...).
"use strict";

(function () {
  const root = document.getElementById("yasgui");
  if (!root || typeof Yasgui === "undefined") return;
  const endpoint = new URL(root.dataset.endpoint, window.location.href).href;
  const dataBase = root.dataset.base;
  const ontology = root.dataset.ontology;
  let prefixes = { id: dataBase, gq: ontology };

  function localHref(iri) {
    if (dataBase && iri.startsWith(dataBase)) return "/id/" + iri.slice(dataBase.length);
    if (ontology && iri.startsWith(ontology)) return "/ontology#" + iri.slice(ontology.length);
    return null;
  }

  // Result IRIs: YASR renders them as links to the IRI itself; ours lead to this server.
  function relink(node) {
    node.querySelectorAll("a[href]").forEach((a) => {
      const href = localHref(a.getAttribute("href"));
      if (href !== null) {
        a.setAttribute("href", href);
        a.removeAttribute("target");
        a.classList.add("kg-local");
      }
    });
  }

  // YASR's table gives DataTables each value for sorting and filtering through DOMPurify, an
  // HTML parser: a literal such as <img src=x onerror=…> from the data was parsed as markup
  // (the page's CSP refused its handler, with a console error). Those two are text: the value
  // escaped for filtering (DataTables decodes entities into text, no element), as it is for
  // sorting (DataTables strips tags with a regular expression). Display is unchanged.
  function escapeHtml(text) {
    return String(text)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }
  const Table = Yasgui.Yasr && Yasgui.Yasr.plugins && Yasgui.Yasr.plugins.table;
  if (Table && Table.prototype.getColumns) {
    const getColumns = Table.prototype.getColumns;
    Table.prototype.getColumns = function () {
      return getColumns.call(this).map((column, index) => {
        if (index === 0 || typeof column.render !== "function") return column;
        const render = column.render;
        return Object.assign({}, column, {
          render: (cell, type, row, meta) =>
            cell !== "" && cell && (type === "filter" || type === "sort" || !type)
              ? escapeHtml(cell.value)
              : render(cell, type, row, meta),
        });
      });
    };
  }

  Yasgui.Yasqe.defaults.autocompleters = ["variables", "prefixes"];
  let termList = null;
  Yasgui.Yasqe.registerAutocompleter({
    name: "kgTerms",
    bulk: true,
    autoShow: true,
    persistenceId: null,
    isValidCompletionPosition: function (yasqe) {
      const token = yasqe.getCompleteToken();
      return token.string.startsWith("gq:");
    },
    get: function () {
      if (termList) return Promise.resolve(termList);
      return fetch(root.dataset.terms)
        .then((r) => r.json())
        .then((names) => (termList = names));
    },
  });

  const yasgui = new Yasgui(root, {
    requestConfig: { endpoint: endpoint, method: "POST" },
    copyEndpointOnNewTab: true,
    endpointCatalogueOptions: { getData: () => [{ endpoint: endpoint }] },
    corsProxy: undefined,
    persistenceId: "kg-query",
    tabName: "Query",
    yasqe: { resizeable: true },
    // Result IRIs shown short (id:division/522731, gq:Pairing) with this graph's prefixes.
    yasr: { prefixes: () => prefixes },
  });
  window.kgYasgui = yasgui; // for tests and the console

  new MutationObserver((records) => {
    records.forEach((r) => r.addedNodes.forEach((n) => n.nodeType === 1 && relink(n)));
  }).observe(root, { childList: true, subtree: true });

  function openExample(example) {
    const tab = yasgui.addTab(true, {
      name: example.name.replace(/^cq(\d+)-.*/, "CQ $1"),
      yasqe: { value: example.query },
      requestConfig: { endpoint: endpoint, method: "POST" },
    });
    return tab;
  }

  // What the default tab held when the page opened: the examples replace it only if the user
  // has not started typing meanwhile (the fetch below may resolve after the first keystrokes).
  const initialQuery = yasgui.getTab().getQuery();

  fetch(root.dataset.examples)
    .then((r) => r.json())
    .then((data) => {
      prefixes = Object.assign({}, data.prefixes, prefixes);
      const select = document.getElementById("examples");
      data.examples.forEach((example) => {
        const option = document.createElement("option");
        option.value = example.name;
        option.textContent = example.summary + (example.summary_zh ? " " + example.summary_zh : "");
        select.appendChild(option);
      });
      select.addEventListener("change", () => {
        const found = data.examples.find((e) => e.name === select.value);
        if (found) openExample(found);
        select.value = "";
      });
      const wanted = new URLSearchParams(window.location.search).get("cq");
      const chosen = data.examples.find((e) => e.name === wanted);
      if (chosen) {
        openExample(chosen);
      } else if (
        yasgui.getTab().getQuery() === initialQuery &&
        initialQuery.indexOf("gq:") < 0 &&
        data.examples.length
      ) {
        // First visit: the default tab holds YASGUI's sample query; show our first question.
        yasgui.getTab().setQuery(data.examples[0].query);
      }
      window.kgQueryPageLoaded = true;
    });
})();
