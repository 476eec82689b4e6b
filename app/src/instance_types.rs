//! The EC2 instance types an environment may run, and what a container can use on each.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceType {
    pub name: &'static str,
    pub vcpus: u32,
    pub memory_mib: u32,
}

impl InstanceType {
    /// ECS counts 1024 CPU units per vCPU.
    pub fn cpu_units(&self) -> u32 {
        self.vcpus * 1024
    }

    /// The ECS agent registers less memory than the instance has (the OS and the agent keep
    /// some); a sixteenth is a safe margin across the ECS-optimized AMIs.
    pub fn usable_memory_mib(&self) -> u32 {
        self.memory_mib - self.memory_mib / 16
    }
}

/// Kept in step with the `AllowedValues` of `InstanceType` in cloudformation/cluster.yaml.
pub const OFFERED: &[InstanceType] = &[
    InstanceType { name: "t3.small", vcpus: 2, memory_mib: 2048 },
    InstanceType { name: "t3.medium", vcpus: 2, memory_mib: 4096 },
    InstanceType { name: "t3.large", vcpus: 2, memory_mib: 8192 },
    InstanceType { name: "t3.xlarge", vcpus: 4, memory_mib: 16384 },
    InstanceType { name: "m5.large", vcpus: 2, memory_mib: 8192 },
    InstanceType { name: "m5.xlarge", vcpus: 4, memory_mib: 16384 },
    InstanceType { name: "m5.2xlarge", vcpus: 8, memory_mib: 32768 },
    InstanceType { name: "c5.large", vcpus: 2, memory_mib: 4096 },
    InstanceType { name: "c5.xlarge", vcpus: 4, memory_mib: 8192 },
    InstanceType { name: "c5.2xlarge", vcpus: 8, memory_mib: 16384 },
    InstanceType { name: "r5.large", vcpus: 2, memory_mib: 16384 },
    InstanceType { name: "r5.xlarge", vcpus: 4, memory_mib: 32768 },
];

pub fn find(name: &str) -> Option<&'static InstanceType> {
    OFFERED.iter().find(|t| t.name == name)
}
