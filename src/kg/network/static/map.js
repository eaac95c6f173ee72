/* kg network maps. Reads the map's data from the JSON block #kg-map-data and draws it with
 * vis-network (shipped by pyvis). Every text from the data reaches the page through
 * textContent or the canvas, never as markup: tooltips and the detail panel are DOM elements
 * built here, and links only ever point at kg's own pages. */
(function () {
  "use strict";

  var WORDS = {
    zh: {
      relation: "关系", level: "层级", period: "时期", evidence: "证据", source: "出处",
      stated: "明示", inferred: "推断", unknown: "结对方未知", code: "代码", facts: "相关事实",
      page: "实体页面", map: "此实体的网络图", members: "成员数", noSource: "无出处句子",
      open: "至今"
    },
    en: {
      relation: "relation", level: "level", period: "period", evidence: "evidence",
      source: "source", stated: "stated", inferred: "inferred", unknown: "partner unknown",
      code: "code", facts: "facts", page: "entity page", map: "map of this entity",
      members: "members", noSource: "no source sentence", open: "open"
    }
  };

  var data = JSON.parse(document.getElementById("kg-map-data").textContent);
  var config = data.config;
  var words = WORDS[config.lang === "en" ? "en" : "zh"];
  var container = document.getElementById("kg-map");
  var details = document.getElementById("kg-details");

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }

  function period(kg) {
    if (!kg.start && !kg.end) { return ""; }
    return (kg.start || "?") + " – " + (kg.end || words.open);
  }

  function citationBlock(citation) {
    var box = el("div", null, "kg-citation");
    box.appendChild(el("blockquote", citation.text || words.noSource));
    box.appendChild(el("p", citation.document_title || citation.document || "", "kg-meta"));
    return box;
  }

  function edgeLines(kg) {
    var lines = [kg.relationText ? kg.relation + " (" + kg.relationText + ")" : kg.relation];
    if (kg.level) { lines.push(words.level + ": " + kg.level); }
    if (period(kg)) { lines.push(words.period + ": " + period(kg)); }
    if (kg.evidence) { lines.push(words.evidence + ": " + (words[kg.evidence] || kg.evidence)); }
    return lines;
  }

  function nodeTooltip(node) {
    var box = el("div", null, "kg-tooltip");
    box.appendChild(el("strong", node.label));
    box.appendChild(el("p", node.kg.kindLabel || node.kg.kind));
    if (node.kg.unknown) { box.appendChild(el("p", words.unknown)); }
    if (node.kg.memberCount) { box.appendChild(el("p", words.members + ": " + node.kg.memberCount)); }
    return box;
  }

  function edgeTooltip(edge) {
    var box = el("div", null, "kg-tooltip");
    edgeLines(edge.kg).forEach(function (line) { box.appendChild(el("p", line)); });
    var first = edge.kg.citations[0];
    if (first) { box.appendChild(el("p", "“" + first.text + "”")); }
    return box;
  }

  // Only kg's own pages: an IRI under the configured base becomes a same-origin path.
  function localPath(iri) {
    if (!config.links || !config.idBase || iri.indexOf(config.idBase) !== 0) { return null; }
    return iri.slice(config.idBase.length);
  }

  function link(text, path) {
    var a = el("a", text);
    a.setAttribute("href", path);
    a.setAttribute("target", "_top");
    return a;
  }

  var nodes = new vis.DataSet(data.nodes.map(function (node) {
    node.title = nodeTooltip(node);
    return node;
  }));
  var edges = new vis.DataSet(data.edges.map(function (edge) {
    edge.title = edgeTooltip(edge);
    return edge;
  }));
  var byId = {};
  data.nodes.forEach(function (node) { byId[node.id] = node; });

  function showFact(parent, edge) {
    var other = parent.appendChild(el("div", null, "kg-fact"));
    var from = byId[edge.from], to = byId[edge.to];
    other.appendChild(el("h3", (from ? from.label : edge.from) + " → " + (to ? to.label : edge.to)));
    edgeLines(edge.kg).forEach(function (line) { other.appendChild(el("p", line, "kg-meta")); });
    edge.kg.citations.forEach(function (c) { other.appendChild(citationBlock(c)); });
  }

  function showNode(id) {
    var node = byId[id];
    if (!node) { return; }
    details.replaceChildren();
    details.appendChild(el("h2", node.label));
    details.appendChild(el("p", (node.kg.kindLabel || node.kg.kind) +
      (node.kg.code ? " · " + words.code + " " + node.kg.code : ""), "kg-meta"));
    details.appendChild(el("p", node.kg.iri, "kg-meta kg-iri"));
    var path = localPath(node.kg.iri);
    if (path) {
      var links = details.appendChild(el("p"));
      links.appendChild(link(words.page, "/id/" + path));
      links.appendChild(document.createTextNode(" · "));
      links.appendChild(link(words.map, "/maps/entity/" + encodeURIComponent("id:" + path)));
    }
    if (node.kg.unknown) {
      details.appendChild(el("p", words.unknown, "kg-unknown"));
      node.kg.citations.forEach(function (c) { details.appendChild(citationBlock(c)); });
    }
    var connected = edges.get({ filter: function (e) { return e.from === id || e.to === id; } });
    if (connected.length) { details.appendChild(el("h2", words.facts)); }
    connected.forEach(function (edge) { showFact(details, edge); });
  }

  function showEdge(id) {
    var edge = edges.get(id);
    if (!edge) { return; }
    details.replaceChildren();
    showFact(details, edge);
  }

  var network = new vis.Network(container, { nodes: nodes, edges: edges }, data.options);
  // For tests and the console: the drawn network and its data sets.
  window.kgMap = { network: network, nodes: nodes, edges: edges, outlinesDrawn: 0 };

  // Geo map: province and prefecture outlines (numbers only) under the nodes, on the canvas.
  var outlines = config.outlines || [];
  if (outlines.length) {
    network.on("beforeDrawing", function (ctx) {
      outlines.forEach(function (outline) {
        var province = outline.level === "province";
        ctx.save();
        ctx.lineWidth = province ? 2 : 1;
        ctx.strokeStyle = province ? "#9a9a9a" : "#c4c4c4";
        ctx.fillStyle = province ? "rgba(200, 200, 200, 0.12)" : "rgba(0, 0, 0, 0)";
        if (!province) { ctx.setLineDash([6, 4]); }
        outline.rings.forEach(function (ring) {
          ctx.beginPath();
          ring.forEach(function (point, i) {
            if (i === 0) { ctx.moveTo(point[0], point[1]); } else { ctx.lineTo(point[0], point[1]); }
          });
          ctx.closePath();
          ctx.fill();
          ctx.stroke();
        });
        ctx.restore();
      });
      window.kgMap.outlinesDrawn = outlines.length;
    });
  }

  function ready() {
    network.setOptions({ physics: false });
    network.fit();
    container.setAttribute("data-ready", "true");
  }
  if (data.options.physics && data.options.physics.enabled) {
    network.once("stabilizationIterationsDone", ready);
  } else {
    network.once("afterDrawing", ready);
  }

  network.on("click", function (params) {
    if (params.nodes.length) {
      var id = params.nodes[0];
      if (network.isCluster(id)) { network.openCluster(id); } else { showNode(id); }
    } else if (params.edges.length) {
      showEdge(params.edges[0]);
    }
  });

  // Period control: an edge with a period shows when it overlaps the chosen years; undated
  // edges always show; nodes left without a visible edge are hidden (unknown ones stay).
  var select = document.getElementById("kg-period");
  function applyPeriod() {
    var value = select.value, first = -1e9, last = 1e9;
    if (value === "2016-2020") { first = 2016; last = 2020; }
    else if (value === "2021-") { first = 2021; }
    else if (value) { first = last = parseInt(value, 10); }
    var visible = {};
    edges.update(data.edges.map(function (edge) {
      var kg = edge.kg, dated = kg.startYear !== null || kg.endYear !== null;
      var on = !value || !dated ||
        ((kg.startYear === null || kg.startYear <= last) && (kg.endYear === null || kg.endYear >= first));
      if (on) { visible[edge.from] = true; visible[edge.to] = true; }
      return { id: edge.id, hidden: !on };
    }));
    var shown = 0;
    nodes.update(data.nodes.map(function (node) {
      var on = !value || visible[node.id] || node.kg.unknown;
      if (on) { shown += 1; }
      return { id: node.id, hidden: !on };
    }));
    document.getElementById("kg-visible-nodes").textContent = String(shown);
    document.getElementById("kg-visible-edges").textContent =
      String(data.edges.filter(function (e) { return !edges.get(e.id).hidden; }).length);
  }
  select.value = select.getAttribute("data-initial") || "";
  select.addEventListener("change", applyPeriod);
  if (select.value) { applyPeriod(); }

  // Clustering keeps 1,000-node maps readable: one cluster per category; click opens one.
  var clustered = false;
  function clusterByType() {
    var groups = {};
    data.nodes.forEach(function (node) { groups[node.group] = (groups[node.group] || 0) + 1; });
    Object.keys(groups).forEach(function (group) {
      if (groups[group] < 3) { return; }
      network.cluster({
        joinCondition: function (node) { return node.group === group; },
        clusterNodeProperties: {
          id: "cluster:" + group, label: group + " (" + groups[group] + ")",
          shape: "database", color: "#dddddd"
        }
      });
    });
    clustered = true;
    network.fit();
  }
  document.getElementById("kg-cluster").addEventListener("click", function () {
    if (clustered) {
      Object.keys(network.body.nodes).forEach(function (id) {
        if (network.isCluster(id)) { network.openCluster(id); }
      });
      clustered = false;
    } else {
      clusterByType();
    }
  });
  // Large maps: fold leaves into their hub (click a hub's cluster to open it), then fit.
  if (data.nodes.length > 600) {
    network.once("stabilizationIterationsDone", function () {
      network.clusterOutliers({
        clusterNodeProperties: { shape: "dot", color: "#dddddd", borderWidth: 2 }
      });
      network.fit();
    });
  }
}());
