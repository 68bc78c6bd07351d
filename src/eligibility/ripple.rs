//! The ripple between students, teachers and classes (docs/eligibility.md, "The rules depend on
//! each other"): the greatest set in which every student has a class, every class a student and a
//! teacher, and every teacher a class, among the records that pass their own rules.
//!
//! Computed by counting, not by repeated sweeps: each alive record keeps how many alive
//! neighbours it has of each kind it needs; removing a record decrements its neighbours and
//! queues those whose count reached zero. Every membership is looked at a bounded number of
//! times, so the cost is linear in memberships, and since the greatest such set is unique the
//! order of removals (and so of the input) cannot change the answer.

use super::memberships::Memberships;

/// Edges from each node of one kind to its neighbours of another, in compressed rows.
#[derive(Debug)]
pub(super) struct Adjacency {
    offsets: Vec<usize>,
    targets: Vec<u32>,
}

impl Adjacency {
    /// Builds from `(from, to)` edges; each node's neighbours keep the edges' order.
    pub(super) fn build(nodes: usize, edges: &[(u32, u32)]) -> Adjacency {
        let mut offsets = vec![0usize; nodes + 1];
        for &(from, _) in edges {
            offsets[from as usize + 1] += 1;
        }
        for node in 0..nodes {
            offsets[node + 1] += offsets[node];
        }
        let mut next = offsets.clone();
        let mut targets = vec![0u32; edges.len()];
        for &(from, to) in edges {
            targets[next[from as usize]] = to;
            next[from as usize] += 1;
        }
        Adjacency { offsets, targets }
    }

    pub(super) fn of(&self, node: u32) -> &[u32] {
        let node = node as usize;
        &self.targets[self.offsets[node]..self.offsets[node + 1]]
    }
}

/// Who is attached to whom among students, staff and class-ripple collections (current
/// memberships only). Neighbour lists come out sorted by index, which is ID order.
#[derive(Debug)]
pub(super) struct ClassGraph {
    pub(super) students_of_class: Adjacency,
    pub(super) classes_of_student: Adjacency,
    pub(super) teachers_of_class: Adjacency,
    pub(super) classes_of_teacher: Adjacency,
}

impl ClassGraph {
    pub(super) fn build(
        students: usize,
        staff: usize,
        collections: usize,
        memberships: &Memberships,
    ) -> ClassGraph {
        let class_student = &memberships.class_students;
        let student_class: Vec<(u32, u32)> = sorted_reversed(class_student.iter().copied());
        let class_teacher: Vec<(u32, u32)> = memberships
            .class_teachers
            .iter()
            .map(|&(class, teacher, _)| (class, teacher))
            .collect();
        let teacher_class = sorted_reversed(class_teacher.iter().copied());
        ClassGraph {
            students_of_class: Adjacency::build(collections, class_student),
            classes_of_student: Adjacency::build(students, &student_class),
            teachers_of_class: Adjacency::build(collections, &class_teacher),
            classes_of_teacher: Adjacency::build(staff, &teacher_class),
        }
    }
}

fn sorted_reversed(edges: impl Iterator<Item = (u32, u32)>) -> Vec<(u32, u32)> {
    let mut reversed: Vec<(u32, u32)> = edges.map(|(from, to)| (to, from)).collect();
    reversed.sort_unstable();
    reversed
}

/// Who is in, by dense index. Going in: who passes their own rules (for collections, only
/// classes can be in). Coming out: who is in the greatest set satisfying the ripple's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Alive {
    pub(super) students: Vec<bool>,
    pub(super) staff: Vec<bool>,
    pub(super) classes: Vec<bool>,
}

#[derive(Debug, Clone, Copy)]
enum Node {
    Student(u32),
    Teacher(u32),
    Class(u32),
}

fn count_alive(neighbours: &[u32], alive: &[bool]) -> u32 {
    // A node has fewer than 2^32 memberships: they are indexed by u32 already.
    neighbours.iter().filter(|&&n| alive[n as usize]).count() as u32
}

/// Removes, until nothing changes, every record that lacks a neighbour it needs.
pub(super) fn settle(graph: &ClassGraph, mut alive: Alive) -> Alive {
    let classes_alive_of_student: Vec<u32> = (0..alive.students.len() as u32)
        .map(|s| count_alive(graph.classes_of_student.of(s), &alive.classes))
        .collect();
    let classes_alive_of_teacher: Vec<u32> = (0..alive.staff.len() as u32)
        .map(|t| count_alive(graph.classes_of_teacher.of(t), &alive.classes))
        .collect();
    let students_alive_of_class: Vec<u32> = (0..alive.classes.len() as u32)
        .map(|c| count_alive(graph.students_of_class.of(c), &alive.students))
        .collect();
    let teachers_alive_of_class: Vec<u32> = (0..alive.classes.len() as u32)
        .map(|c| count_alive(graph.teachers_of_class.of(c), &alive.staff))
        .collect();
    let mut counts = Counts {
        classes_alive_of_student,
        classes_alive_of_teacher,
        students_alive_of_class,
        teachers_alive_of_class,
    };

    let mut queue: Vec<Node> = Vec::new();
    queue.extend((0..alive.students.len() as u32).map(Node::Student));
    queue.extend((0..alive.staff.len() as u32).map(Node::Teacher));
    queue.extend((0..alive.classes.len() as u32).map(Node::Class));
    queue.retain(|&node| counts.lacks_a_neighbour(node, &alive));

    while let Some(node) = queue.pop() {
        if counts.lacks_a_neighbour(node, &alive) {
            counts.remove(node, graph, &mut alive, &mut queue);
        }
    }
    alive
}

struct Counts {
    classes_alive_of_student: Vec<u32>,
    classes_alive_of_teacher: Vec<u32>,
    students_alive_of_class: Vec<u32>,
    teachers_alive_of_class: Vec<u32>,
}

impl Counts {
    /// Alive, but missing something the ripple's rules require.
    fn lacks_a_neighbour(&self, node: Node, alive: &Alive) -> bool {
        match node {
            Node::Student(s) => {
                alive.students[s as usize] && self.classes_alive_of_student[s as usize] == 0
            }
            Node::Teacher(t) => {
                alive.staff[t as usize] && self.classes_alive_of_teacher[t as usize] == 0
            }
            Node::Class(c) => {
                alive.classes[c as usize]
                    && (self.students_alive_of_class[c as usize] == 0
                        || self.teachers_alive_of_class[c as usize] == 0)
            }
        }
    }

    fn remove(&mut self, node: Node, graph: &ClassGraph, alive: &mut Alive, queue: &mut Vec<Node>) {
        match node {
            Node::Student(s) => {
                alive.students[s as usize] = false;
                for &c in graph.classes_of_student.of(s) {
                    if alive.classes[c as usize] {
                        let count = &mut self.students_alive_of_class[c as usize];
                        *count -= 1;
                        if *count == 0 {
                            queue.push(Node::Class(c));
                        }
                    }
                }
            }
            Node::Teacher(t) => {
                alive.staff[t as usize] = false;
                for &c in graph.classes_of_teacher.of(t) {
                    if alive.classes[c as usize] {
                        let count = &mut self.teachers_alive_of_class[c as usize];
                        *count -= 1;
                        if *count == 0 {
                            queue.push(Node::Class(c));
                        }
                    }
                }
            }
            Node::Class(c) => {
                alive.classes[c as usize] = false;
                for &s in graph.students_of_class.of(c) {
                    if alive.students[s as usize] {
                        let count = &mut self.classes_alive_of_student[s as usize];
                        *count -= 1;
                        if *count == 0 {
                            queue.push(Node::Student(s));
                        }
                    }
                }
                for &t in graph.teachers_of_class.of(c) {
                    if alive.staff[t as usize] {
                        let count = &mut self.classes_alive_of_teacher[t as usize];
                        *count -= 1;
                        if *count == 0 {
                            queue.push(Node::Teacher(t));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(students: usize, staff: usize, classes: usize, m: &Memberships) -> ClassGraph {
        ClassGraph::build(students, staff, classes, m)
    }

    #[test]
    fn a_chain_collapses_from_one_missing_teacher() {
        // Class 0: student 0, teacher 0 (fails own rules). Class 1: students 0 and 1, teacher 1.
        // Class 2: student 1, teacher 0. Classes 0 and 2 fall; class 1 keeps both students.
        let memberships = Memberships {
            class_students: vec![(0, 0), (1, 0), (1, 1), (2, 1)],
            class_teachers: vec![(0, 0, true), (1, 1, false), (2, 0, false)],
            group_students: vec![],
        };
        let alive = Alive {
            students: vec![true, true],
            staff: vec![false, true],
            classes: vec![true, true, true],
        };
        let settled = settle(&graph(2, 2, 3, &memberships), alive);
        assert_eq!(settled.classes, vec![false, true, false]);
        assert_eq!(settled.students, vec![true, true]);
        assert_eq!(settled.staff, vec![false, true]);
    }

    #[test]
    fn removal_ripples_through_several_steps() {
        // Student 0 only in class 0 (teacher 0 not ok); class 1 has only student 0 and teacher 1.
        let memberships = Memberships {
            class_students: vec![(0, 0), (1, 0)],
            class_teachers: vec![(0, 0, false), (1, 1, false)],
            group_students: vec![],
        };
        let alive = Alive {
            students: vec![true],
            staff: vec![false, true],
            classes: vec![true, true],
        };
        let settled = settle(&graph(1, 2, 2, &memberships), alive);
        // Class 1 keeps student 0 and teacher 1: both stay in.
        assert_eq!(settled.classes, vec![false, true]);
        assert_eq!(settled.students, vec![true]);
        let no_student = Alive {
            students: vec![false],
            staff: vec![true, true],
            classes: vec![true, true],
        };
        let settled = settle(&graph(1, 2, 2, &memberships), no_student);
        assert_eq!(settled.classes, vec![false, false]);
        assert_eq!(settled.staff, vec![false, false]);
    }
}
