// pconf plan --format html: hover a rank for its coordinates, groups, ports, environment and NUMA binding;
// click a group kind (a button, or its legend entry) to highlight its groups. No network, no libraries.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pconf-data").textContent);
  var picture = document.getElementById("picture");
  var svg = picture.querySelector("svg");
  var info = document.getElementById("info");
  var kinds = data.kinds;
  var cells = [];
  var fills = [];
  var groupOf = {};
  var active = "";
  var current = -1;

  Array.prototype.forEach.call(svg.querySelectorAll("g.rank"), function (g) {
    var r = Number(g.getAttribute("data-rank"));
    cells[r] = g;
    fills[r] = g.querySelector("rect").getAttribute("fill");
    g.setAttribute("tabindex", "0");
  });
  kinds.forEach(function (kind) {
    var index = new Array(cells.length).fill(-1);
    data.groups[kind].forEach(function (members, i) {
      members.forEach(function (r) { index[r] = i; });
    });
    groupOf[kind] = index;
  });

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function span(members) {
    var n = members.length;
    if (n === 0) { return "none"; }
    var run = true;
    for (var i = 1; i < n; i++) { if (members[i] !== members[0] + i) { run = false; break; } }
    if (run && n > 2) { return members[0] + "-" + members[n - 1]; }
    if (n <= 12) { return members.join(","); }
    return members.slice(0, 12).join(",") + ",… (" + n + " ranks)";
  }

  function table(rows) {
    var t = el("table");
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("td", row[0]));
      tr.appendChild(el("td", row[1], "mono"));
      t.appendChild(tr);
    });
    return t;
  }

  function envOf(r) {
    var lines = [];
    var env = data.env;
    env.keys.forEach(function (key) {
      var value;
      if (Object.prototype.hasOwnProperty.call(env.common, key)) {
        value = env.common[key];
      } else {
        value = env.values[r][env.varying.indexOf(key)];
      }
      if (value !== null && value !== undefined) { lines.push(key + "=" + value); }
    });
    return lines.join("\n");
  }

  function show(r) {
    var g = cells[r];
    info.textContent = "";
    info.appendChild(el("h2", "rank " + r));
    var coords = [["node", g.getAttribute("data-node")], ["local rank", g.getAttribute("data-local-rank")]];
    ["dp", "pp", "pcp", "tp", "dcp", "ep"].forEach(function (axis) {
      var value = g.getAttribute("data-" + axis);
      coords.push([axis, value === "" ? "-" : value]);
    });
    info.appendChild(el("h3", "coordinates"));
    info.appendChild(table(coords));
    info.appendChild(el("h3", "groups"));
    info.appendChild(table(kinds.map(function (kind) {
      var i = groupOf[kind][r];
      return [kind, i < 0 ? "none" : "#" + i + ": " + span(data.groups[kind][i])];
    })));
    info.appendChild(el("h3", "ports"));
    info.appendChild(table(data.ports));
    info.appendChild(el("h3", "environment"));
    info.appendChild(el("pre", envOf(r)));
    info.appendChild(el("h3", "NUMA binding"));
    var numa = data.numa;
    if (numa.workers) {
      var b = numa.workers[r];
      info.appendChild(b ? table(Object.keys(b).map(function (k) {
        var v = b[k];
        return [k, v === null ? "-" : Array.isArray(v) ? v.join(",") : v];
      })) : el("p", "none", "empty"));
    }
    info.appendChild(el("p", numa.mode + ": " + numa.reason, "empty"));
    mark(r);
  }

  function mark(r) {
    if (current >= 0) {
      cells.forEach(function (g) { g.classList.remove("peer", "current"); });
    }
    current = r;
    if (r < 0) { return; }
    var kind = active || data.colour;
    var i = groupOf[kind][r];
    if (i >= 0) {
      data.groups[kind][i].forEach(function (m) { cells[m].classList.add("peer"); });
    }
    cells[r].classList.add("current");
  }

  function highlight(kind) {
    active = active === kind ? "" : kind;
    var colourKind = active || data.colour;
    cells.forEach(function (g, r) {
      var i = groupOf[colourKind][r];
      var fill = active ? (i < 0 ? data.noGroup : data.palette[i % data.palette.length]) : fills[r];
      g.querySelector("rect").setAttribute("fill", fill);
    });
    Array.prototype.forEach.call(svg.querySelectorAll("g.kind"), function (g) {
      g.classList.toggle("active", g.getAttribute("data-kind") === active);
    });
    if (active) { svg.setAttribute("data-highlight", active); } else { svg.removeAttribute("data-highlight"); }
    Array.prototype.forEach.call(document.querySelectorAll("nav button[data-kind]"), function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-kind") === active));
    });
    if (current >= 0) { mark(current); }
  }

  function rankOf(target) {
    var g = target && target.closest ? target.closest("g.rank") : null;
    return g ? Number(g.getAttribute("data-rank")) : -1;
  }

  svg.addEventListener("mouseover", function (event) {
    var r = rankOf(event.target);
    if (r >= 0 && r !== current) { show(r); }
  });
  svg.addEventListener("focusin", function (event) {
    var r = rankOf(event.target);
    if (r >= 0) { show(r); }
  });
  svg.addEventListener("click", function (event) {
    var item = event.target.closest ? event.target.closest("g.legend-item") : null;
    if (item) { highlight(item.getAttribute("data-kind")); }
  });
  Array.prototype.forEach.call(document.querySelectorAll("nav button[data-kind]"), function (b) {
    b.addEventListener("click", function () { highlight(b.getAttribute("data-kind")); });
  });
  var fit = document.getElementById("fit");
  fit.addEventListener("click", function () {
    var on = picture.classList.toggle("fit");
    fit.setAttribute("aria-pressed", String(on));
  });
  document.body.setAttribute("data-ready", "1");
}());
