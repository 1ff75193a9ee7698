//! The resource graph: one node per resource instance, an edge from each dependency to
//! its dependant, carrying where the dependency was declared.

use std::collections::{HashMap, HashSet, VecDeque};

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use terrane_core::{Address, Diagnostic, Diagnostics, SourceLocation};

use crate::eval::Reference;
use crate::stack::Stack;

#[derive(Clone, Debug)]
pub struct Edge {
    pub location: SourceLocation,
    /// How the dependency arose: `${vpc.id}` or `depends_on`.
    pub via: String,
}

pub struct StackGraph {
    /// Node weights are indexes into `Stack::instances`; edges point from dependency to dependant.
    pub graph: DiGraph<usize, Edge>,
    /// Instance indexes in an order where every dependency comes first.
    pub order: Vec<usize>,
    /// Per instance, the references its properties make.
    pub references: Vec<Vec<Reference>>,
    nodes: Vec<NodeIndex>,
}

impl StackGraph {
    /// Builds the graph, reporting every missing reference and any cycle with its full path.
    pub fn build(stack: &Stack) -> Result<StackGraph, Diagnostics> {
        let mut diags = Diagnostics::new();
        let mut graph = DiGraph::with_capacity(stack.instances.len(), stack.instances.len() * 2);
        let nodes: Vec<NodeIndex> = (0..stack.instances.len())
            .map(|i| graph.add_node(i))
            .collect();
        let mut references = Vec::with_capacity(stack.instances.len());
        for (i, inst) in stack.instances.iter().enumerate() {
            let refs = match stack.references(inst) {
                Ok(r) => r,
                Err(d) => {
                    diags.push(d.with_address(inst.address.to_string()));
                    Vec::new()
                }
            };
            let mut seen: HashSet<usize> = HashSet::new();
            for r in &refs {
                match stack.by_address.get(&r.address) {
                    Some(&j) => {
                        if seen.insert(j) {
                            graph.add_edge(
                                nodes[j],
                                nodes[i],
                                Edge {
                                    location: r.location.clone(),
                                    via: format!("${{{}.{}}}", r.address, r.attribute),
                                },
                            );
                        }
                    }
                    None => diags.push(Diagnostic::at(
                        r.location.clone(),
                        format!(
                            "reference to `{}`, which is not part of the stack",
                            r.address
                        ),
                    )),
                }
            }
            for dep in &inst.decl.depends_on {
                let at = crate::stack::loc_of(&inst.location.file, &dep.referenced);
                match stack.resolve_depends_on(inst, &dep.value) {
                    Some(addrs) => {
                        for a in addrs {
                            if let Some(&j) = stack.by_address.get(&a)
                                && seen.insert(j)
                            {
                                graph.add_edge(
                                    nodes[j],
                                    nodes[i],
                                    Edge {
                                        location: at.clone(),
                                        via: "depends_on".into(),
                                    },
                                );
                            }
                        }
                    }
                    None => diags.push(Diagnostic::at(
                        at,
                        format!(
                            "depends_on names `{}`, which is not a resource or module of this file",
                            dep.value
                        ),
                    )),
                }
            }
            references.push(refs);
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        match stable_toposort(&graph) {
            Some(order) => Ok(StackGraph {
                order,
                graph,
                references,
                nodes,
            }),
            None => Err(cycle_diagnostics(stack, &graph)),
        }
    }

    /// Indexes of the instances `instance` depends on directly.
    pub fn dependencies(&self, instance: usize) -> impl Iterator<Item = usize> + '_ {
        self.graph
            .edges_directed(self.nodes[instance], petgraph::Direction::Incoming)
            .map(|e| self.graph[e.source()])
    }

    pub fn to_dot(&self, stack: &Stack) -> String {
        let mut out = String::from(
            "digraph terrane {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
        );
        for (i, inst) in stack.instances.iter().enumerate() {
            out.push_str(&format!(
                "  n{i} [label=\"{}\\n{} ({})\"];\n",
                escape(inst.address.as_str()),
                inst.type_name,
                inst.region
            ));
        }
        for e in self.graph.edge_references() {
            out.push_str(&format!(
                "  n{} -> n{};\n",
                self.graph[e.source()],
                self.graph[e.target()]
            ));
        }
        out.push_str("}\n");
        out
    }

    /// A Mermaid flowchart with one subgraph per region, as architecture diagrams draw them.
    pub fn to_mermaid(&self, stack: &Stack) -> String {
        let mut out = String::from("flowchart LR\n");
        let mut regions: Vec<&str> = stack.instances.iter().map(|i| i.region.as_str()).collect();
        regions.sort();
        regions.dedup();
        for region in regions {
            out.push_str(&format!(
                "  subgraph {}[\"{}\"]\n",
                region.replace('-', "_"),
                region
            ));
            for (i, inst) in stack
                .instances
                .iter()
                .enumerate()
                .filter(|(_, i)| i.region == region)
            {
                out.push_str(&format!(
                    "    n{i}[\"{}<br/><small>{}</small>\"]\n",
                    inst.address.as_str().replace('"', "#quot;"),
                    inst.type_name
                ));
            }
            out.push_str("  end\n");
        }
        for e in self.graph.edge_references() {
            out.push_str(&format!(
                "  n{} --> n{}\n",
                self.graph[e.source()],
                self.graph[e.target()]
            ));
        }
        out
    }
}

/// Kahn's algorithm, taking among the ready instances the one declared first, so that
/// plans list resources in the order people wrote them. `None` when there is a cycle.
fn stable_toposort(graph: &DiGraph<usize, Edge>) -> Option<Vec<usize>> {
    let mut waiting: Vec<usize> = graph
        .node_indices()
        .map(|n| {
            graph
                .neighbors_directed(n, petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: BinaryHeap<Reverse<usize>> = graph
        .node_indices()
        .filter(|n| waiting[n.index()] == 0)
        .map(|n| Reverse(n.index()))
        .collect();
    let mut order = Vec::with_capacity(waiting.len());
    while let Some(Reverse(i)) = ready.pop() {
        let n = NodeIndex::new(i);
        order.push(graph[n]);
        for next in graph.neighbors(n) {
            waiting[next.index()] -= 1;
            if waiting[next.index()] == 0 {
                ready.push(Reverse(next.index()));
            }
        }
    }
    (order.len() == graph.node_count()).then_some(order)
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// One diagnostic per cycle, naming every resource on it and where each edge was declared.
fn cycle_diagnostics(stack: &Stack, graph: &DiGraph<usize, Edge>) -> Diagnostics {
    let mut diags = Diagnostics::new();
    for scc in tarjan_scc(graph) {
        let is_cycle = scc.len() > 1 || graph.contains_edge(scc[0], scc[0]);
        if !is_cycle {
            continue;
        }
        let members: HashSet<NodeIndex> = scc.iter().copied().collect();
        let start = *scc.iter().min_by_key(|n| graph[**n]).unwrap_or(&scc[0]);
        let path = shortest_cycle(graph, start, &members);
        // Edges run dependency -> dependant; the message reads "a depends on b", so it walks them backwards.
        let names: Vec<String> = std::iter::once(&path[0])
            .chain(path[1..].iter().rev())
            .map(|n| stack.instances[graph[*n]].address.to_string())
            .collect();
        let mut cycle_text = names.clone();
        cycle_text.push(names[0].clone());
        let first_edge_loc = path
            .first()
            .and_then(|from| {
                graph
                    .find_edge(*from, path[1 % path.len()])
                    .map(|e| graph[e].location.clone())
            })
            .unwrap_or_else(|| stack.instances[graph[start]].location.clone());
        let mut d = Diagnostic::at(
            first_edge_loc,
            format!("dependency cycle: {}", cycle_text.join(" -> ")),
        );
        for (k, from) in path.iter().enumerate() {
            let to = path[(k + 1) % path.len()];
            if let Some(e) = graph.find_edge(*from, to) {
                d = d.with_note(format!(
                    "{} depends on {} via {} at {}",
                    stack.instances[graph[to]].address,
                    stack.instances[graph[*from]].address,
                    graph[e].via,
                    graph[e].location
                ));
            }
        }
        diags.push(d);
    }
    if diags.is_empty() {
        diags.push(Diagnostic::unlocated("dependency cycle"));
    }
    diags
}

/// The shortest path from `start` around back to `start` within one strongly connected component.
fn shortest_cycle(
    graph: &DiGraph<usize, Edge>,
    start: NodeIndex,
    members: &HashSet<NodeIndex>,
) -> Vec<NodeIndex> {
    if graph.contains_edge(start, start) {
        return vec![start];
    }
    let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for next in graph.neighbors(n) {
            if !members.contains(&next) {
                continue;
            }
            if next == start {
                let mut path = vec![n];
                let mut cur = n;
                while cur != start {
                    cur = prev[&cur];
                    path.push(cur);
                }
                path.reverse();
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(next) {
                e.insert(n);
                queue.push_back(next);
            }
        }
    }
    vec![start]
}

/// Addresses in dependency order, for callers that want names rather than indexes.
pub fn ordered_addresses(stack: &Stack, graph: &StackGraph) -> Vec<Address> {
    graph
        .order
        .iter()
        .map(|i| stack.instances[*i].address.clone())
        .collect()
}
