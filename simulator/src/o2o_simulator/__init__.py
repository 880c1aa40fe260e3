"""A chain's store day driven through the platform's public interfaces only: tills over gRPC,
shoppers' phones streaming observations, partner apps through the HTTP gateway."""
