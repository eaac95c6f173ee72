// The query page: POST the query to /sparql, show SELECT/ASK as a table, graphs as text.
"use strict";

function termText(term) {
  if (!term) return "";
  if (term.type === "uri") return term.value;
  if (term.type === "bnode") return "_:" + term.value;
  let text = term.value;
  if (term["xml:lang"]) text += "@" + term["xml:lang"];
  return text;
}

function cell(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}

function renderSolutions(data, target) {
  const table = document.createElement("table");
  const head = document.createElement("tr");
  const vars = data.head.vars || [];
  vars.forEach((v) => head.appendChild(cell("th", "?" + v)));
  table.appendChild(head);
  data.results.bindings.forEach((row) => {
    const tr = document.createElement("tr");
    vars.forEach((v) => tr.appendChild(cell("td", termText(row[v]))));
    table.appendChild(tr);
  });
  target.appendChild(table);
}

async function run(event) {
  const format = document.getElementById("format").value;
  if (format) return; // let the browser submit the form and download the file
  event.preventDefault();
  const status = document.getElementById("status");
  const target = document.getElementById("result");
  target.textContent = "";
  status.textContent = "running…";
  const started = performance.now();
  try {
    const response = await fetch("/sparql", {
      method: "POST",
      headers: {
        "Content-Type": "application/sparql-query",
        "Accept": "application/sparql-results+json, text/turtle;q=0.9",
      },
      body: document.getElementById("query").value,
    });
    const type = response.headers.get("Content-Type") || "";
    const ms = Math.round(performance.now() - started);
    if (!response.ok) {
      status.textContent = "";
      target.appendChild(cell("div", await response.text())).className = "error";
      return;
    }
    if (type.startsWith("application/sparql-results+json")) {
      const data = await response.json();
      if ("boolean" in data) {
        target.appendChild(cell("pre", String(data.boolean)));
      } else {
        renderSolutions(data, target);
      }
      const rows = response.headers.get("X-KG-Rows");
      const cut = response.headers.get("X-KG-Truncated") ? " (truncated)" : "";
      status.textContent = (rows !== null ? rows + " rows" : "done") + cut + ", " + ms + " ms";
    } else {
      target.appendChild(cell("pre", await response.text()));
      status.textContent = ms + " ms";
    }
  } catch (err) {
    status.textContent = "";
    target.appendChild(cell("div", String(err))).className = "error";
  }
}

document.getElementById("query-form").addEventListener("submit", run);
