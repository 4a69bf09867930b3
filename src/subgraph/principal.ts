import 'reflect-metadata';
import { Ctx, Directive, Field, ID, ObjectType, Query, Resolver } from 'type-graphql';
import type { SubgraphContext } from './context.js';

/** The caller, as an entity every subgraph can resolve; each domain adds its own budget field. */
@Directive('@key(fields: "id")')
@ObjectType({ description: 'An authenticated caller (the token\'s subject). Each sensitive domain adds its budget field.' })
export class Principal {
  @Field(() => ID, { description: 'Subject of the token.' })
  id!: string;
  @Directive('@shareable')
  @Field(() => [String], { nullable: true, description: 'Roles of the caller (analyst, admin, admin:<domain>), from the token; null for other principals.' })
  roles?: string[] | null;
}

@Resolver(() => Principal)
export class MeResolver {
  @Directive('@shareable')
  @Query(() => Principal, { nullable: true, description: 'The caller, answered from the verified token by any subgraph.' })
  me(@Ctx() ctx: SubgraphContext): Principal {
    return { id: ctx.caller.id, roles: ctx.caller.roles };
  }
}
